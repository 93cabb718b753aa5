"""The voicebot's speech tests: real espeak-ng and PocketSphinx (Debian packages, see
scripts/install-deps.sh), no network, no lobbykit server. Run with /usr/bin/python3:
    /usr/bin/python3 -m pytest -q examples/voicebot/tests"""

from __future__ import annotations

import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # examples/voicebot: the voicebot package

from voicebot import RECOGNIZER_RATE, Recognizer, Synthesizer, resample_pcm  # noqa: E402


@pytest.fixture(scope="session")
def synthesizer() -> Synthesizer:
    return Synthesizer()


@pytest.fixture(scope="session")
def recognizer() -> Recognizer:
    return Recognizer()


def silence(seconds: float, rate: int = RECOGNIZER_RATE) -> bytes:
    return bytes(int(seconds * rate) * 2)


@pytest.fixture(scope="session")
def spoken(synthesizer):
    """spoken(text) -> 16 kHz mono s16 of espeak-ng saying it (through the 48 kHz path the
    bot uses: synthesis at 48 kHz, then down to the recogniser's rate)."""
    def make(text: str) -> bytes:
        return resample_pcm(synthesizer.synthesize(text), 48_000, RECOGNIZER_RATE)
    return make

"""make_wav.sh makes what Chromium takes as a fake microphone (16-bit PCM WAV, 48 kHz mono)
and what it says is recognised as the command."""

from __future__ import annotations

import os
import subprocess

import pytest

from voicebot import Command, Segmenter, parse_wav, resample_pcm

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      "make_wav.sh")


def test_make_wav(tmp_path, recognizer):
    out = tmp_path / "mic.wav"
    subprocess.run([SCRIPT, str(out), "what time is it", "1", "3"], check=True, timeout=30)
    data = out.read_bytes()
    assert data[20:22] == b"\x01\x00" and data[34:36] == b"\x10\x00"   # PCM, 16 bits
    rate, channels, pcm = parse_wav(data)
    assert (rate, channels) == (48_000, 1)
    assert 4.5 < len(pcm) / 2 / rate < 6.0                               # 1 + phrase + 3 s
    found = Segmenter().feed(resample_pcm(pcm, rate, 16_000))
    assert len(found) == 1 and found[0].start_s == pytest.approx(1.0, abs=0.25)
    assert recognizer.recognize(found[0].pcm) is Command.TIME

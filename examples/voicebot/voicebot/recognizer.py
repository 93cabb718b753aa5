"""Command recognition with PocketSphinx (Debian python3-pocketsphinx, the SWIG API) and the
JSGF grammar commands.jsgf: 16 kHz mono s16 PCM of one utterance in, a Command or None out.

A grammar forces any speech onto one of its phrases, so a decoded phrase is only accepted
when the alignment explains the sound (see `Recognizer.reject_reason`): no stretch of 100 ms
or more inside the utterance was pushed into a silence/noise segment with a poor acoustic
score (speech the grammar had no word for), and the mean acoustic score per frame of the
speech is not far below what commands score. Thresholds were measured on espeak-ng voices
with the Debian en-us model (README.md, "Recognition")."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Optional

from .commands import Command, command_for

MODEL_DIR = "/usr/share/pocketsphinx/model/en-us"  # Debian pocketsphinx-en-us
GRAMMAR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "commands.jsgf")

# Wider than PocketSphinx's defaults (1e-48, 7e-29): with those "what time is it" said by
# espeak-ng's default voice finds no path through the grammar at all.
BEAM = 1e-60
WORD_BEAM = 1e-48
# Rejection (acoustic scores are PocketSphinx's, in its log base): see the module docstring.
FILLER_MIN_FRAMES = 10          # 100 ms
FILLER_WORST_SCORE = -500       # a filler segment scoring below this hides unmatched speech
MEAN_FRAME_SCORE_MIN = -53.0    # per 10 ms frame, between the first and the last segment


@dataclass(frozen=True)
class Recognition:
    """One utterance's outcome: the grammar's best phrase (may be ""), the command when it
    was accepted, why not otherwise, and how long decoding took."""
    words: str
    command: Optional[Command]
    rejected: str = ""          # "", "no_match", "unmatched_sound", "poor_match", "unknown_phrase"
    seconds: float = 0.0


class Recognizer:
    """One PocketSphinx decoder with the command grammar. Thread-safe (calls are serialised:
    the decoder is not); run recognize() in an executor, it takes tens of milliseconds."""

    def __init__(self, grammar: str = GRAMMAR, model_dir: str = MODEL_DIR) -> None:
        from pocketsphinx import pocketsphinx as ps
        config = ps.Decoder.default_config()
        config.set_string("-hmm", os.path.join(model_dir, "en-us"))
        config.set_string("-dict", os.path.join(model_dir, "cmudict-en-us.dict"))
        config.set_string("-jsgf", grammar)
        config.set_string("-logfn", os.devnull)
        config.set_float("-beam", BEAM)
        config.set_float("-wbeam", WORD_BEAM)
        self._decoder = ps.Decoder(config)
        self._lock = threading.Lock()

    def recognize(self, pcm: bytes) -> Optional[Command]:
        """The command said in one utterance (16 kHz mono s16), or None."""
        return self.decode(pcm).command

    def decode(self, pcm: bytes) -> Recognition:
        """recognize() with the details."""
        started = time.perf_counter()
        with self._lock:
            d = self._decoder
            d.start_utt()
            d.process_raw(pcm, False, True)
            d.end_utt()
            hyp = d.hyp()
            segments = [(s.word, s.ascore, s.end_frame - s.start_frame + 1) for s in d.seg()] \
                if hyp is not None else []
        words = hyp.hypstr if hyp is not None else ""
        why = self.reject_reason(words, segments)
        command = command_for(words) if not why else None
        if not why and command is None:
            why = "unknown_phrase"
        return Recognition(words, command, why, time.perf_counter() - started)

    @staticmethod
    def reject_reason(words: str, segments: "list[tuple[str, int, int]]") -> str:
        """Why a decoded phrase does not stand (segments: (word, acoustic score, frames)),
        or ""."""
        if not words or not segments:
            return "no_match"
        inner = segments[1:-1]  # the first and last are the silence around the utterance
        for word, score, frames in inner:
            if _is_filler(word) and frames >= FILLER_MIN_FRAMES and score < FILLER_WORST_SCORE:
                return "unmatched_sound"
        frames = sum(f for _, _, f in inner)
        if frames and sum(s for _, s, _ in inner) / frames < MEAN_FRAME_SCORE_MIN:
            return "poor_match"
        return ""


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "[", "+"))

"""Energy-based voice activity detection: cuts one peer's continuous 16 kHz mono s16 stream
into utterances (speech between pauses) for the recogniser. Keep one Segmenter per peer.

A 20 ms frame is voiced when its level is `margin_db` above the noise floor (the quietest
frame of the last `floor_window_ms`, the current one included, so a steady noise is its own
floor and never starts an utterance) and above `min_level_dbfs`. `start_frames` voiced frames
in a row start an utterance (with `preroll_ms` of audio before them); `hangover_ms` without a
voiced frame ends it; `max_utterance_ms` cuts it. An utterance is kept when it holds at least
`min_speech_ms` of voiced frames and its level varies by `min_dynamic_db` (speech rises and
falls with its syllables; a noise that switches on does not)."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass
from typing import Deque, List, Optional

import numpy as np

from .audio import RECOGNIZER_RATE, SAMPLE_BYTES

FRAME_MS = 20


@dataclass(frozen=True)
class VadSettings:
    margin_db: float = 10.0
    min_level_dbfs: float = -55.0
    floor_window_ms: int = 2_000
    start_frames: int = 3
    preroll_ms: int = 200
    hangover_ms: int = 500
    min_speech_ms: int = 200
    max_utterance_ms: int = 6_000
    min_dynamic_db: float = 6.0
    rate: int = RECOGNIZER_RATE


@dataclass(frozen=True)
class Utterance:
    """One stretch of speech: PCM at the segmenter's rate, where it started in the stream
    (seconds from the first sample fed), and why it ended."""
    pcm: bytes
    start_s: float
    ended_by: str  # "pause", "max_length" or "flush"

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / SAMPLE_BYTES / RECOGNIZER_RATE


def level_dbfs(samples: np.ndarray) -> float:
    """RMS level of s16 samples in dB below full scale (-100 for digital silence)."""
    if samples.size == 0:
        return -100.0
    rms = math.sqrt(float(np.mean(samples.astype(np.float64) ** 2)))
    return 20 * math.log10(rms / 32768) if rms > 0 else -100.0


class Segmenter:
    """Feed PCM of any chunk size with feed(); it returns the utterances that ended."""

    def __init__(self, settings: VadSettings = VadSettings()) -> None:
        self.settings = s = settings
        self._frame_samples = s.rate * FRAME_MS // 1000
        self._pending = b""                       # less than a frame, waiting for more
        self._levels: Deque[float] = collections.deque(maxlen=max(1, s.floor_window_ms // FRAME_MS))
        self._preroll: Deque[bytes] = collections.deque(maxlen=max(1, s.preroll_ms // FRAME_MS))
        self._run = 0                             # voiced frames in a row, before a start
        self._frames_seen = 0
        self._active = False
        self._utterance: List[bytes] = []
        self._utterance_levels: List[float] = []
        self._utterance_start = 0
        self._voiced = 0
        self._silent = 0

    @property
    def in_speech(self) -> bool:
        return self._active

    def feed(self, pcm: bytes) -> List[Utterance]:
        data = self._pending + pcm
        step = self._frame_samples * SAMPLE_BYTES
        whole = len(data) // step * step
        self._pending = data[whole:]
        out: List[Utterance] = []
        for i in range(0, whole, step):
            done = self._frame(data[i:i + step])
            if done is not None:
                out.append(done)
        return out

    def flush(self) -> Optional[Utterance]:
        """Ends the stream: the utterance in progress, if it qualifies."""
        self._pending = b""
        return self._finish("flush") if self._active else None

    def _frame(self, frame: bytes) -> Optional[Utterance]:
        s = self.settings
        level = level_dbfs(np.frombuffer(frame, dtype=np.int16))
        self._levels.append(level)
        floor = min(self._levels)
        voiced = level >= max(floor + s.margin_db, s.min_level_dbfs)
        index = self._frames_seen
        self._frames_seen += 1
        if not self._active:
            self._preroll.append(frame)
            self._run = self._run + 1 if voiced else 0
            if self._run >= s.start_frames:
                self._active = True
                self._utterance = list(self._preroll)
                self._utterance_levels = []
                self._utterance_start = index + 1 - len(self._preroll)
                self._voiced = self._run
                self._silent = 0
                self._preroll.clear()
            return None
        self._utterance.append(frame)
        self._utterance_levels.append(level)
        if voiced:
            self._voiced += 1
            self._silent = 0
        else:
            self._silent += 1
        if self._silent * FRAME_MS >= s.hangover_ms:
            return self._finish("pause")
        if len(self._utterance) * FRAME_MS >= s.max_utterance_ms:
            return self._finish("max_length")
        return None

    def _finish(self, why: str) -> Optional[Utterance]:
        s = self.settings
        self._active = False
        self._run = 0
        frames, levels, voiced = self._utterance, self._utterance_levels, self._voiced
        self._utterance, self._utterance_levels = [], []
        if why == "pause":  # keep a little of the pause: the decoder wants a word's end
            keep = len(frames) - self._silent + min(self._silent, 10)
            frames = frames[:keep]
        if voiced * FRAME_MS < s.min_speech_ms:
            return None
        if levels and max(levels) - float(np.percentile(levels, 10)) < s.min_dynamic_db:
            return None
        return Utterance(b"".join(frames), self._utterance_start * FRAME_MS / 1000, why)

"""Speech synthesis with espeak-ng (Debian espeak-ng): text in, 48 kHz mono s16 PCM out,
ready for SpeechTrack. Repeated phrases ("Goodbye!", the help text) come from a cache."""

from __future__ import annotations

import collections
import subprocess
import threading
import time
from typing import Optional, OrderedDict, Tuple

from .audio import WEBRTC_RATE, parse_wav, resample_pcm

VOICE = "en-us"
ESPEAK = "espeak-ng"
CACHE_ENTRIES = 64
TIMEOUT_S = 20.0            # espeak-ng needs well under a second for a chat line
MAX_TEXT_CHARS = 1_000


class Synthesizer:
    """espeak-ng in a subprocess per phrase, results cached (LRU, `cache_entries`).
    Thread-safe; synthesize() blocks for the subprocess: run it in an executor."""

    def __init__(self, voice: str = VOICE, rate: int = WEBRTC_RATE,
                 words_per_minute: Optional[int] = None,
                 cache_entries: int = CACHE_ENTRIES) -> None:
        self.voice = voice
        self.rate = rate
        self.words_per_minute = words_per_minute
        self.cache_entries = cache_entries
        self._cache: OrderedDict[str, bytes] = collections.OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.last_seconds = 0.0     # how long the last uncached synthesis took

    def synthesize(self, text: str) -> bytes:
        """`text` spoken, as mono s16 PCM at `rate`. Empty text gives b""."""
        text = " ".join(text.split())[:MAX_TEXT_CHARS]
        if not text:
            return b""
        with self._lock:
            cached = self._cache.get(text)
            if cached is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return cached
            self.misses += 1
        started = time.perf_counter()
        pcm = self._render(text)
        self.last_seconds = time.perf_counter() - started
        with self._lock:
            self._cache[text] = pcm
            while len(self._cache) > self.cache_entries:
                self._cache.popitem(last=False)
        return pcm

    def wav(self, text: str) -> Tuple[int, int, bytes]:
        """espeak-ng's own output for `text`: (rate, channels, PCM), uncached."""
        args = [ESPEAK, "-v", self.voice, "--stdout"]
        if self.words_per_minute:
            args += ["-s", str(self.words_per_minute)]
        # The text goes in on stdin, never as an argument: chat text may start with "-".
        done = subprocess.run(args, input=text.encode("utf-8"), capture_output=True,
                              timeout=TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"espeak-ng failed ({done.returncode}): "
                               f"{done.stderr.decode(errors='replace').strip()}")
        return parse_wav(done.stdout)

    def _render(self, text: str) -> bytes:
        rate, channels, pcm = self.wav(text)
        return resample_pcm(pcm, rate, self.rate, channels)

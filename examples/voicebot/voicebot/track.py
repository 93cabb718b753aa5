"""SpeechTrack: the bot's voice as an aiortc audio track. It plays queued 48 kHz mono s16
PCM in 20 ms frames at real-time pace and sends silence when there is nothing to say, with
pts counting samples (time_base 1/48000), which aiortc turns into RTP timestamps."""

from __future__ import annotations

import asyncio
import collections
import fractions
from typing import Awaitable, Callable, Deque, Optional, Tuple

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from .audio import SAMPLE_BYTES, WEBRTC_RATE

FRAME_MS = 20
FRAME_SAMPLES = WEBRTC_RATE * FRAME_MS // 1000      # 960
MAX_LAG_S = 0.1   # further behind real time than this (the loop stalled): skip, don't burst

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class SpeechTrack(MediaStreamTrack):
    """``track = SpeechTrack(); await track.say(pcm)``. `clock`/`sleep` default to the event
    loop's; tests pass a fake pair. One consumer calls recv() (aiortc's sender, or
    lobbykit.media's relay)."""

    kind = "audio"

    def __init__(self, clock: Optional[Clock] = None, sleep: Optional[Sleep] = None) -> None:
        super().__init__()
        self._clock = clock
        self._sleep = sleep or asyncio.sleep
        self._queue: Deque[Tuple[bytes, "asyncio.Future[None]"]] = collections.deque()
        self._offset = 0                 # bytes of the queue's head already sent
        self._start: Optional[float] = None
        self._pts = 0
        self.frames_sent = 0
        self.frames_skipped = 0          # frames of real time dropped after a stall

    def say(self, pcm: bytes) -> "asyncio.Future[None]":
        """Queues 48 kHz mono s16 PCM after what is queued; the future is done when its last
        sample has been handed to the sender (cancelled by clear() or stop())."""
        future: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        if len(pcm) < SAMPLE_BYTES:
            future.set_result(None)
        else:
            self._queue.append((pcm[: len(pcm) // SAMPLE_BYTES * SAMPLE_BYTES], future))
        return future

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def clear(self) -> None:
        """Drops everything queued (what is being said stops at the next frame)."""
        while self._queue:
            _, future = self._queue.popleft()
            future.cancel()
        self._offset = 0

    def stop(self) -> None:
        self.clear()
        super().stop()

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        await self._pace()
        frame = av.AudioFrame.from_ndarray(self._next_samples().reshape(1, -1), format="s16",
                                           layout="mono")
        frame.sample_rate = WEBRTC_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, WEBRTC_RATE)
        self._pts += FRAME_SAMPLES
        self.frames_sent += 1
        return frame

    async def _pace(self) -> None:
        now = self._now()
        if self._start is None:
            self._start = now
            return
        due = self._start + self._pts / WEBRTC_RATE
        if now - due > MAX_LAG_S:
            # Behind after a stall: move on to the present (pts jumps like real time did)
            # rather than sending the backlog in a burst.
            behind = int((now - due) * WEBRTC_RATE) // FRAME_SAMPLES
            self._pts += behind * FRAME_SAMPLES
            self.frames_skipped += behind
        elif due > now:
            await self._sleep(due - now)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def _next_samples(self) -> np.ndarray:
        out = bytearray()
        want = FRAME_SAMPLES * SAMPLE_BYTES
        while len(out) < want and self._queue:
            pcm, future = self._queue[0]
            take = pcm[self._offset:self._offset + want - len(out)]
            out += take
            self._offset += len(take)
            if self._offset >= len(pcm):
                self._queue.popleft()
                self._offset = 0
                if not future.done():
                    future.set_result(None)
        out += bytes(want - len(out))
        return np.frombuffer(bytes(out), dtype=np.int16)

"""The asyncio side of speech: SpeechService runs recognition and synthesis in an executor
(never on the event loop), PeerListener turns one peer's incoming aiortc track into
recognised commands."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
from typing import Any, Awaitable, Callable, Optional

from .audio import RECOGNIZER_RATE, FrameResampler
from .recognizer import Recognition, Recognizer
from .tts import Synthesizer
from .vad import Segmenter, Utterance, VadSettings

log = logging.getLogger("voicebot.listener")

ResultCallback = Callable[[str, Utterance, Recognition], Awaitable[None]]


class SpeechService:
    """One recogniser and one synthesiser for a process, each behind its own thread pool
    (the decoder handles one utterance at a time; espeak-ng runs as a subprocess, so
    synthesis waits outside the GIL). Make it once and share it between jobs."""

    def __init__(self, recognizer: Optional[Recognizer] = None,
                 synthesizer: Optional[Synthesizer] = None) -> None:
        self.recognizer = recognizer or Recognizer()
        self.synthesizer = synthesizer or Synthesizer()
        self._decode_pool = concurrent.futures.ThreadPoolExecutor(1, "voicebot-asr")
        self._synth_pool = concurrent.futures.ThreadPoolExecutor(2, "voicebot-tts")

    async def recognize(self, pcm: bytes) -> Recognition:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode_pool, self.recognizer.decode, pcm)

    async def synthesize(self, text: str) -> bytes:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._synth_pool, self.synthesizer.synthesize, text)

    def close(self) -> None:
        self._decode_pool.shutdown(wait=False, cancel_futures=True)
        self._synth_pool.shutdown(wait=False, cancel_futures=True)


class PeerListener:
    """One peer: its frames are resampled to 16 kHz mono and segmented as they arrive;
    each utterance is recognised in the service's executor and handed to
    ``on_result(peer_id, utterance, recognition)`` in order, on the event loop."""

    def __init__(self, service: SpeechService, peer_id: str, on_result: ResultCallback,
                 vad: VadSettings = VadSettings()) -> None:
        self.service = service
        self.peer_id = peer_id
        self.on_result = on_result
        self.resampler = FrameResampler(RECOGNIZER_RATE)
        self.segmenter = Segmenter(vad)
        self._utterances: "asyncio.Queue[Optional[Utterance]]" = asyncio.Queue()
        self._worker: Optional["asyncio.Task[None]"] = None

    def feed(self, frame: Any) -> None:
        """One incoming av.AudioFrame (cheap: resampling and levels of 20 ms)."""
        for utterance in self.segmenter.feed(self.resampler.convert(frame)):
            self._utterances.put_nowait(utterance)

    def end(self) -> None:
        """The stream ended: the utterance in progress, then no more."""
        last = self.segmenter.flush()
        if last is not None:
            self._utterances.put_nowait(last)
        self._utterances.put_nowait(None)

    async def run(self, track: Any) -> None:
        """Reads `track` until it ends (or this task is cancelled), then waits for the
        utterances still being recognised."""
        self._worker = asyncio.get_running_loop().create_task(self._recognise())
        try:
            while True:
                try:
                    frame = await track.recv()
                except Exception:  # aiortc's MediaStreamError: the peer's track ended
                    break
                self.feed(frame)
            self.end()
            await self._worker
        finally:
            if not self._worker.done():
                self._worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._worker

    async def _recognise(self) -> None:
        while True:
            utterance = await self._utterances.get()
            if utterance is None:
                return
            recognition = await self.service.recognize(utterance.pcm)
            log.info("%s: %.2f s -> %r (%s) in %.3f s", self.peer_id, utterance.duration_s,
                     recognition.words, recognition.rejected or "accepted",
                     recognition.seconds)
            try:
                await self.on_result(self.peer_id, utterance, recognition)
            except Exception:
                log.exception("voicebot: handling a recognition failed")

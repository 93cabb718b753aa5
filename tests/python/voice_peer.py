"""Media half of the voice smoke test: one aiortc peer that sends a sine tone and measures
the dominant frequency of what it receives. Signaling-agnostic: the caller moves SDP and
candidates between peers however it likes (directly in-process, or through lobbykit).

    peer = VoicePeer("Ada", tone_hz=440)
    offer = await peer.make_offer()             # -> SDP string (type "offer")
    answer = await other.accept_offer(offer)    # -> SDP string (type "answer")
    await peer.accept_answer(answer)
    await peer.add_candidate("candidate:...", "0", 0)   # or add_candidate(None): end
    m = await peer.measured_frequency(timeout=10)        # -> Measurement
    await peer.close()

With trickle=True the SDP this peer sends carries no candidates; they are handed out by
local_candidates() (ending with None = end of candidates) and must be delivered to the
other side's add_candidate(), so the candidate path of the signaling is load-bearing.

For peers of the shipped lobbykit.media.Mesh: ``with loopback_ice():`` keeps ICE on
127.0.0.1, and ``await measure_track(track, timeout)`` measures an incoming track. The tone
source is the shipped lobbykit.media.ToneTrack.

Needs Debian's aiortc 1.4 / PyAV / numpy (run with /usr/bin/python3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import List, Optional, Tuple

import aioice.ice
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from aiortc.sdp import candidate_from_sdp
from lobbykit.media import ToneTrack

log = logging.getLogger("voice_peer")

SAMPLE_RATE = 48000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960

# A candidate as signaling carries it: (candidate line, sdpMid, sdpMLineIndex);
# None stands for end of candidates.
Candidate = Optional[Tuple[str, Optional[str], Optional[int]]]


# ---------------------------------------------------------------------------------------
# Loopback-only ICE. aioice leaves 127.0.0.1 out of its host candidates; with no STUN/TURN
# the test must still not depend on the machine's other interfaces, so while any VoicePeer
# is open, aioice gathers on 127.0.0.1 only (refcounted: peers overlap).

_loopback_users = 0
_original_get_host_addresses = aioice.ice.get_host_addresses


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> List[str]:
    return ["127.0.0.1"] if use_ipv4 else []


def _loopback_acquire() -> None:
    global _loopback_users
    _loopback_users += 1
    aioice.ice.get_host_addresses = _loopback_host_addresses


def _loopback_release() -> None:
    global _loopback_users
    _loopback_users -= 1
    if _loopback_users == 0:
        aioice.ice.get_host_addresses = _original_get_host_addresses


# ---------------------------------------------------------------------------------------
@dataclass
class Measurement:
    frequency_hz: float   # dominant frequency (Hann-windowed FFT peak, parabolic interpolation)
    frames: int           # audio frames received in total so far
    analysed_s: float     # seconds of audio the FFT ran over
    rms: float            # RMS of the analysed audio, full scale = 1.0
    sample_rate: int


class VoiceTimeout(AssertionError):
    pass


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    x = samples.astype(np.float64)
    x -= x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    spectrum[0] = 0.0
    k = int(np.argmax(spectrum))
    shift = 0.0
    if 0 < k < len(spectrum) - 1:  # parabolic interpolation between bins
        a, b, c = np.log(spectrum[k - 1:k + 2] + 1e-12)
        denom = a - 2 * b + c
        if denom != 0:
            shift = 0.5 * (a - c) / denom
    return (k + shift) * sample_rate / len(x)


class loopback_ice:
    """``with loopback_ice():`` aioice gathers on 127.0.0.1 only inside the block (for
    lobbykit.media.Mesh peers in tests)."""

    def __enter__(self) -> "loopback_ice":
        _loopback_acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        _loopback_release()


async def measure_track(track, timeout: float, skip_s: float = 0.2,
                        analyse_s: float = 1.0) -> Measurement:
    """Reads an incoming audio track until skip + analyse seconds of audio came (at most
    `timeout` s) and returns the dominant frequency. Raises VoiceTimeout otherwise."""
    skip = int(skip_s * 1000 / FRAME_MS)
    need = skip + int(analyse_s * 1000 / FRAME_MS)
    chunks: List[np.ndarray] = []
    frames = 0
    rate = SAMPLE_RATE

    async def read() -> None:
        nonlocal frames, rate
        while frames < need:
            frame = await track.recv()
            frames += 1
            if frames <= skip:
                continue
            data = frame.to_ndarray()
            channels = len(frame.layout.channels)
            mono = data[0] if frame.format.is_planar else data.reshape(-1, channels)[:, 0]
            rate = frame.sample_rate
            chunks.append(mono.copy())
    try:
        await asyncio.wait_for(read(), timeout)
    except (asyncio.TimeoutError, MediaStreamError):
        raise VoiceTimeout(f"{frames} audio frames received within {timeout:.1f}s, "
                           f"needed {need}") from None
    audio = np.concatenate(chunks)
    return Measurement(frequency_hz=dominant_frequency(audio, rate), frames=frames,
                       analysed_s=len(audio) / rate,
                       rms=float(np.sqrt(np.mean((audio / 32768.0) ** 2))), sample_rate=rate)


# ---------------------------------------------------------------------------------------
class VoicePeer:
    """One side of a 1:1 audio call. Sends a tone, records the remote audio."""

    def __init__(self, name: str, tone_hz: float, *, trickle: bool = False,
                 skip_s: float = 0.2, analyse_s: float = 1.0):
        self.name = name
        self.tone_hz = tone_hz
        self.trickle = trickle
        self.skip_frames = int(skip_s * 1000 / FRAME_MS)        # codec/jitter start-up
        self.analyse_frames = int(analyse_s * 1000 / FRAME_MS)
        _loopback_acquire()
        self._closed = False
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ToneTrack(tone_hz)
        self.pc.addTrack(self.track)
        self._pending: List[Candidate] = []      # remote candidates before the remote SDP
        self._local_candidates: List[Candidate] = []
        self.frames_received = 0
        self._chunks: List[np.ndarray] = []
        self._sample_rate = SAMPLE_RATE
        self._enough = asyncio.Event()
        self._recv_error: Optional[BaseException] = None
        self._tasks: List[asyncio.Task] = []
        self.candidates_added = 0

        @self.pc.on("track")
        def on_track(track):
            log.info("%s: remote %s track", name, track.kind)
            if track.kind == "audio":
                self._tasks.append(asyncio.ensure_future(self._receive(track)))

        @self.pc.on("connectionstatechange")
        def on_state():
            log.info("%s: connection %s", name, self.pc.connectionState)

    # -- signaling-facing API ----------------------------------------------------------
    async def make_offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self._outgoing_sdp()

    async def accept_offer(self, sdp: str) -> str:
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return self._outgoing_sdp()

    async def accept_answer(self, sdp: str) -> None:
        await self._set_remote(RTCSessionDescription(sdp=sdp, type="answer"))

    async def add_candidate(self, candidate: Optional[str], sdp_mid: Optional[str] = None,
                            sdp_mline_index: Optional[int] = None) -> None:
        """A remote candidate; None or "" means end of candidates. Queued until the remote
        description is set."""
        item: Candidate = (candidate, sdp_mid, sdp_mline_index) if candidate else None
        if self.pc.remoteDescription is None:
            self._pending.append(item)
            return
        await self._apply_candidate(item)

    def local_candidates(self) -> List[Candidate]:
        """After make_offer/accept_offer: the candidates to send the other side (trickle
        mode: every gathered one, then None; otherwise just None, as the SDP has them)."""
        return list(self._local_candidates)

    def local_candidate_ips(self) -> List[str]:
        sdp = self.pc.localDescription.sdp if self.pc.localDescription else ""
        return [ln.split()[4] for ln in sdp.splitlines() if ln.startswith("a=candidate:")]

    async def measured_frequency(self, timeout: float) -> Measurement:
        """Wait (at most `timeout` s) for skip + analyse frames of remote audio and return
        the dominant frequency. Raises VoiceTimeout when not enough audio came in time."""
        try:
            await asyncio.wait_for(self._enough.wait(), timeout)
        except asyncio.TimeoutError:
            raise VoiceTimeout(
                f"{self.name}: {self.frames_received} audio frames received within "
                f"{timeout:.1f}s, needed {self.skip_frames + self.analyse_frames} "
                f"(connection {self.pc.connectionState}, ice "
                f"{self.pc.iceConnectionState}, receive error {self._recv_error!r})"
            ) from None
        audio = np.concatenate(self._chunks)
        return Measurement(
            frequency_hz=dominant_frequency(audio, self._sample_rate),
            frames=self.frames_received,
            analysed_s=len(audio) / self._sample_rate,
            rms=float(np.sqrt(np.mean((audio / 32768.0) ** 2))),
            sample_rate=self._sample_rate,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self.pc.close()
        finally:
            for t in self._tasks:
                t.cancel()
            for t in self._tasks:
                with contextlib.suppress(BaseException):
                    await t
            _loopback_release()

    # -- internals ----------------------------------------------------------------------
    def _outgoing_sdp(self) -> str:
        sdp = self.pc.localDescription.sdp
        if not self.trickle:
            self._local_candidates = [None]
            return sdp
        lines = sdp.splitlines()
        mids: List[Optional[str]] = []            # a=mid of each m-section
        for line in lines:
            if line.startswith("m="):
                mids.append(None)
            elif line.startswith("a=mid:") and mids:
                mids[-1] = line[len("a=mid:"):]
        kept, cands, mline = [], [], -1
        for line in lines:
            if line.startswith("m="):
                mline += 1
            if line.startswith("a=candidate:"):
                cands.append((line[2:], mids[mline], mline))   # "candidate:..."
            elif not line.startswith("a=end-of-candidates"):
                kept.append(line)
        self._local_candidates = cands + [None]
        return "\r\n".join(kept) + "\r\n"

    async def _set_remote(self, desc: RTCSessionDescription) -> None:
        await self.pc.setRemoteDescription(desc)
        pending, self._pending = self._pending, []
        for item in pending:
            await self._apply_candidate(item)

    async def _apply_candidate(self, item: Candidate) -> None:
        if item is None:
            # aiortc 1.4's addIceCandidate() cannot take None: end the ICE transports.
            seen = set()
            for t in self.pc.getTransceivers():
                ice = t.receiver.transport.transport if t.receiver.transport else None
                if ice is not None and id(ice) not in seen:
                    seen.add(id(ice))
                    await ice.addRemoteCandidate(None)
            return
        line, mid, index = item
        c = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
        c.sdpMid = mid
        c.sdpMLineIndex = index
        if mid is None and index is not None:
            transceivers = self.pc.getTransceivers()
            if index < len(transceivers):
                c.sdpMid = transceivers[index].mid
        await self.pc.addIceCandidate(c)
        self.candidates_added += 1

    async def _receive(self, track) -> None:
        need = self.skip_frames + self.analyse_frames
        try:
            while True:
                frame = await track.recv()
                self.frames_received += 1
                if self.frames_received <= self.skip_frames or self._enough.is_set():
                    continue
                data = frame.to_ndarray()
                channels = len(frame.layout.channels)
                if frame.format.is_planar:
                    mono = data[0]
                else:
                    mono = data.reshape(-1, channels)[:, 0]
                self._sample_rate = frame.sample_rate
                self._chunks.append(mono.copy())
                if self.frames_received >= need:
                    self._enough.set()
        except MediaStreamError:
            pass
        except Exception as e:  # surfaced through measured_frequency's timeout message
            self._recv_error = e
            log.exception("%s: receiving audio failed", self.name)


# ---------------------------------------------------------------------------------------
async def direct_call(tone_a: float = 440.0, tone_b: float = 880.0, *, trickle: bool = False,
                      timeout: float = 15.0) -> Tuple[Measurement, Measurement]:
    """Two VoicePeers in this process, signaling by direct calls. Returns what A and B
    measured."""
    a = VoicePeer("A", tone_a, trickle=trickle)
    b = VoicePeer("B", tone_b, trickle=trickle)
    try:
        offer = await a.make_offer()
        for c in a.local_candidates():          # before the offer: B must queue them
            await b.add_candidate(*(c or (None,)))
        answer = await b.accept_offer(offer)
        await a.accept_answer(answer)
        for c in b.local_candidates():
            await a.add_candidate(*(c or (None,)))
        return tuple(await asyncio.gather(a.measured_frequency(timeout),
                                          b.measured_frequency(timeout)))
    finally:
        await a.close()
        await b.close()


if __name__ == "__main__":
    import time
    logging.basicConfig(level=logging.WARNING)
    for trickle in (False, True):
        t0 = time.monotonic()
        ma, mb = asyncio.run(direct_call(trickle=trickle))
        print(f"trickle={trickle}: A heard {ma.frequency_hz:.1f} Hz ({ma.frames} frames, "
              f"rms {ma.rms:.3f}), B heard {mb.frequency_hz:.1f} Hz ({mb.frames} frames, "
              f"rms {mb.rms:.3f}) in {time.monotonic() - t0:.2f}s")

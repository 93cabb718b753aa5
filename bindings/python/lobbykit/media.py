"""lobbykit.media: audio for bots and other Python peers with aiortc, over lobbykit's managed
mesh (docs/protocol.md, "Signaling — the managed mesh").

    mesh = Mesh(client)              # make it before client.start(): it sees every event
    await client.start()
    await client.join_lobby(lobby_id, has_media=True, video_muted=True)
    await mesh.start()
    mesh.set_audio(ToneTrack(440))   # what every peer hears from us (one source)
    async for peer_id, track in mesh.tracks():   # what each peer sends us
        ...                          # frames = await track.recv()

A Mesh keeps one RTCPeerConnection per peer the server introduces (``peer_added``): it
offers when told to (``should_offer``), answers offers, queues candidates that come before
the remote description, handles end-of-candidates, closes on ``peer_removed``, and drops
every connection after a welcome (the server forgot the pairs and introduces them again) or
when the client leaves the lobby. Each connection sends its own track object fed from the
one source given to set_audio() (silence until then), through aiortc's MediaRelay.

aiortc is imported when a Mesh or a track is made, so ``import lobbykit`` works without it
(Debian: python3-aiortc). Decoded audio arrives as av.AudioFrame, 48 kHz s16."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import logging
from typing import Any, AsyncIterator, Callable, Dict, List, Optional, Sequence, Tuple

from .aio import AsyncClient
from .events import Candidate, Description, LobbyLeft, PeerAdded, PeerRemoved, Welcome

log = logging.getLogger("lobbykit.media")

SAMPLE_RATE = 48_000
FRAME_MS = 20
FRAME_SAMPLES = SAMPLE_RATE * FRAME_MS // 1000  # 960

# A remote candidate: (candidate line, sdpMid, sdpMLineIndex), or None for end of candidates.
RemoteCandidate = Optional[Tuple[str, Optional[str], Optional[int]]]
TrackCallback = Callable[[str, Any], Any]


def _aiortc() -> Any:
    try:
        import aiortc  # noqa: F401  (imported for its error message)
        return aiortc
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError("lobbykit.media needs aiortc (Debian: python3-aiortc)") from e


class _PacedAudio:
    """Real-time pacing of 20 ms frames against the event loop's clock."""

    def __init__(self) -> None:
        self._start: Optional[float] = None
        self.pts = 0

    async def next(self) -> int:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self.pts += FRAME_SAMPLES
            wait = self._start + self.pts / SAMPLE_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        return self.pts


def _audio_frame(samples: Any, pts: int) -> Any:
    import av
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = fractions.Fraction(1, SAMPLE_RATE)
    return frame


def ToneTrack(freq_hz: float, amplitude: float = 0.5) -> Any:
    """An aiortc audio track of a sine tone (48 kHz mono s16, 20 ms frames, real time): a
    test signal, or a beep."""
    _aiortc()
    import numpy as np
    from aiortc.mediastreams import AudioStreamTrack, MediaStreamError

    class _Tone(AudioStreamTrack):
        def __init__(self) -> None:
            super().__init__()
            self.freq_hz = float(freq_hz)
            self.amplitude = amplitude
            self._pace = _PacedAudio()

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            pts = await self._pace.next()
            n = pts + np.arange(FRAME_SAMPLES)
            wave = self.amplitude * 32767 * np.sin(2 * np.pi * self.freq_hz * n / SAMPLE_RATE)
            return _audio_frame(wave.astype(np.int16), pts)

    return _Tone()


def _outgoing_track(mesh: "Mesh") -> Any:
    """One connection's outgoing audio: the mesh's current source through the relay, or
    silence while there is none (aiortc's sender needs a track to read from)."""
    import numpy as np
    from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

    class _Outgoing(MediaStreamTrack):
        kind = "audio"

        def __init__(self) -> None:
            super().__init__()
            self._of: Any = None
            self._proxy: Any = None
            self._pace = _PacedAudio()

        async def recv(self) -> Any:
            if self.readyState != "live":
                raise MediaStreamError
            source = mesh._source
            if source is not self._of:
                self._of = source
                self._proxy = mesh._relay.subscribe(source) if source is not None else None
            if self._proxy is None:
                pts = await self._pace.next()
                return _audio_frame(np.zeros(FRAME_SAMPLES, dtype=np.int16), pts)
            return await self._proxy.recv()

    return _Outgoing()


class _Pair:
    """One peer: its connection, the candidates waiting for its remote description, and a
    lock that runs this pair's signaling steps one at a time."""

    def __init__(self, peer_id: str, pc: Any, outgoing: Any) -> None:
        self.peer_id = peer_id
        self.pc = pc
        self.outgoing = outgoing
        self.pending: List[RemoteCandidate] = []
        self.lock = asyncio.Lock()
        self.closed = False


class Mesh:
    """The managed mesh of one AsyncClient with aiortc. ``Mesh(client, *, audio=None,
    ice_servers=(), on_track=None, trickle=False)``:

    - audio: the source every peer hears (set_audio() changes it); None sends silence;
    - ice_servers: aiortc RTCIceServer objects (none: host candidates only);
    - on_track(peer_id, track): called on the event loop for each incoming audio track
      (tracks() is the other way to get them);
    - trickle: send our candidates one by one with relay_candidate instead of in the SDP
      (as browsers do; aiortc puts them all in the SDP).

    Make it before client.start() so it sees the first peer_added; start() follows the
    client's events until close()."""

    def __init__(self, client: AsyncClient, *, audio: Any = None,
                 ice_servers: Sequence[Any] = (), on_track: Optional[TrackCallback] = None,
                 trickle: bool = False) -> None:
        _aiortc()
        from aiortc.contrib.media import MediaRelay
        self.client = client
        self.trickle = trickle
        self._ice_servers = list(ice_servers)
        self._on_track = on_track
        self._source = audio
        self._relay = MediaRelay()
        self._pairs: Dict[str, _Pair] = {}
        self._events = client.events()  # now: no event of the client is missed
        self._incoming: "asyncio.Queue[Optional[Tuple[str, Any]]]" = asyncio.Queue()
        self._task: Optional["asyncio.Task[None]"] = None
        self._closed = False
        self.errors: List[BaseException] = []  # signaling steps that failed (logged too)

    # -- the author's side ----------------------------------------------------------
    async def start(self) -> None:
        """Follows the client's events (a task of its own) until close()."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._follow())

    def set_audio(self, track: Any) -> None:
        """What every peer hears from now on (an aiortc audio track); None: silence."""
        self._source = track

    def tracks(self) -> AsyncIterator[Tuple[str, Any]]:
        """(peer_id, track) for every incoming audio track, as connections come up, until
        close(). One consumer."""
        return self._iterate_tracks()

    @property
    def peers(self) -> Dict[str, Any]:
        """The RTCPeerConnection of each peer (a copy)."""
        return {peer_id: pair.pc for peer_id, pair in self._pairs.items()}

    async def close(self) -> None:
        """Closes every connection and stops following the client. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._close_all()
        await self._events.aclose()
        self._incoming.put_nowait(None)

    async def __aenter__(self) -> "Mesh":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- following the mesh ---------------------------------------------------------
    async def _iterate_tracks(self) -> AsyncIterator[Tuple[str, Any]]:
        while True:
            item = await self._incoming.get()
            if item is None:
                return
            yield item

    async def _follow(self) -> None:
        async for event in self._events:
            try:
                await self._handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # one pair's failure does not stop the others
                self.errors.append(e)
                log.exception("lobbykit.media: handling %s failed", event.type)

    async def _handle(self, event: Any) -> None:
        if isinstance(event, PeerAdded):
            await self._close(event.peer_id)  # introduced again: the old pair is gone
            pair = self._create(event.peer_id)
            if event.should_offer:
                async with pair.lock:
                    await pair.pc.setLocalDescription(await pair.pc.createOffer())
                    await self._send_local(pair, "offer")
        elif isinstance(event, Description):
            await self._on_description(event.from_, event.description.type,
                                       event.description.sdp)
        elif isinstance(event, Candidate):
            c = event.candidate
            item = (c.candidate, c.sdp_mid, c.sdp_mline_index) if c and c.candidate else None
            pair = self._pairs.get(event.from_)
            if pair is not None:
                async with pair.lock:
                    await self._add_candidate(pair, item)
        elif isinstance(event, PeerRemoved):
            await self._close(event.peer_id)
        elif isinstance(event, (Welcome, LobbyLeft)):
            # After a welcome the server has forgotten our pairs and introduces them again;
            # out of the lobby there are none.
            await self._close_all()

    def _create(self, peer_id: str) -> _Pair:
        from aiortc import RTCConfiguration, RTCPeerConnection
        pc = RTCPeerConnection(RTCConfiguration(iceServers=self._ice_servers))
        outgoing = _outgoing_track(self)
        pc.addTrack(outgoing)
        pair = _Pair(peer_id, pc, outgoing)
        self._pairs[peer_id] = pair

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "audio" or pair.closed:
                return
            self._incoming.put_nowait((peer_id, track))
            if self._on_track is not None:
                try:
                    self._on_track(peer_id, track)
                except Exception:
                    log.exception("lobbykit.media: on_track failed")

        return pair

    async def _on_description(self, peer_id: str, type_: str, sdp: str) -> None:
        from aiortc import RTCSessionDescription
        pair = self._pairs.get(peer_id)
        if pair is None:
            if type_ != "offer":
                return  # an answer for a pair we closed: late and harmless
            pair = self._create(peer_id)
        async with pair.lock:
            if type_ == "offer":
                await pair.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                await self._flush(pair)
                await pair.pc.setLocalDescription(await pair.pc.createAnswer())
                await self._send_local(pair, "answer")
            elif type_ == "answer":
                await pair.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
                await self._flush(pair)
            # pranswer / rollback: the managed mesh has no glare; nothing to undo

    async def _send_local(self, pair: _Pair, type_: str) -> None:
        sdp = pair.pc.localDescription.sdp
        candidates: List[Tuple[str, Optional[str], int]] = []
        if self.trickle:
            sdp, candidates = _split_candidates(sdp)
        await self.client.send_description(pair.peer_id, type_, sdp)
        for line, mid, index in candidates:
            await self.client.send_candidate(pair.peer_id, line, mid, index)
        # aiortc gathers every candidate before setLocalDescription returns
        await self.client.send_candidate(pair.peer_id, None)

    async def _add_candidate(self, pair: _Pair, item: RemoteCandidate) -> None:
        if pair.pc.remoteDescription is None:
            pair.pending.append(item)
            return
        await _apply_candidate(pair.pc, item)

    async def _flush(self, pair: _Pair) -> None:
        pending, pair.pending = pair.pending, []
        for item in pending:
            await _apply_candidate(pair.pc, item)

    async def _close(self, peer_id: str) -> None:
        pair = self._pairs.pop(peer_id, None)
        if pair is None:
            return
        pair.closed = True
        pair.outgoing.stop()
        with contextlib.suppress(Exception):
            await pair.pc.close()

    async def _close_all(self) -> None:
        for peer_id in list(self._pairs):
            await self._close(peer_id)


def _split_candidates(sdp: str) -> Tuple[str, List[Tuple[str, Optional[str], int]]]:
    """The SDP without its candidate lines, and those candidates as (line, mid, m-line)."""
    lines = sdp.splitlines()
    kept: List[str] = []
    found: List[Tuple[str, Optional[str], int]] = []
    mids: List[Optional[str]] = []
    for line in lines:  # a=mid of each m-section
        if line.startswith("m="):
            mids.append(None)
        elif line.startswith("a=mid:") and mids:
            mids[-1] = line[len("a=mid:"):]
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if line.startswith("a=candidate:"):
            found.append((line[2:], mids[index] if index >= 0 else None, max(index, 0)))
        elif not line.startswith("a=end-of-candidates"):
            kept.append(line)
    return "\r\n".join(kept) + "\r\n", found


async def _apply_candidate(pc: Any, item: RemoteCandidate) -> None:
    if item is None:
        # aiortc 1.4's addIceCandidate() takes no None: end each ICE transport instead.
        seen = set()
        for t in pc.getTransceivers():
            transport = t.receiver.transport
            ice = transport.transport if transport is not None else None
            if ice is not None and id(ice) not in seen:
                seen.add(id(ice))
                await ice.addRemoteCandidate(None)
        return
    from aiortc.sdp import candidate_from_sdp
    line, mid, index = item
    c = candidate_from_sdp(line.split(":", 1)[1] if line.startswith("candidate:") else line)
    c.sdpMid = mid
    c.sdpMLineIndex = index
    if mid is None and index is not None:
        transceivers = pc.getTransceivers()
        if index < len(transceivers):
            c.sdpMid = transceivers[index].mid
    await pc.addIceCandidate(c)


__all__ = ["Mesh", "ToneTrack", "SAMPLE_RATE", "FRAME_SAMPLES"]

"""Voice smoke test: two participants signal through a real lobbykit-server with the
lobbykit Python client and exchange audio with aiortc (loopback host candidates only).
Ada sends 440 Hz, Bob 880 Hz; each must hear the other's tone.

Run:  PYTHONPATH=build-py/python LOBBYKIT_SERVER=build/lobbykit-server \
      /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/python/test_voice.py
Skip: LOBBYKIT_SKIP_VOICE=1. Needs Debian's python3-aiortc (hence /usr/bin/python3).
"""

import asyncio
import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

if os.environ.get("LOBBYKIT_SKIP_VOICE", "") not in ("", "0"):
    pytest.skip("LOBBYKIT_SKIP_VOICE is set", allow_module_level=True)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    from voice_peer import VoicePeer, VoiceTimeout, direct_call
except ImportError as e:  # fail, do not skip: the suite should say why it cannot run
    raise ImportError(f"voice test needs aiortc/av/numpy (Debian python3-aiortc, run "
                      f"/usr/bin/python3) or LOBBYKIT_SKIP_VOICE=1: {e}") from e

TONE_ADA, TONE_BOB = 440.0, 880.0
TOLERANCE_HZ = 10.0
MIN_RMS = 0.05           # the tone is sent at rms 0.35; silence or noise fails
STEP_TIMEOUT = 10.0      # server start, connect, each request, each signaling step
AUDIO_TIMEOUT = 15.0     # from both peers existing to 1.2 s of audio heard on each side
TEST_TIMEOUT = 60.0      # the whole scenario

SERVER = os.environ.get("LOBBYKIT_SERVER") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "lobbykit-server")
TRICKLE = [pytest.param(False, id="sdp-candidates"), pytest.param(True, id="trickle")]


def assert_heard(m, expected_hz, who):
    assert m.frames > 0, f"{who} received no audio frames"
    assert m.rms > MIN_RMS, f"{who} heard near silence (rms {m.rms:.4f})"
    assert abs(m.frequency_hz - expected_hz) <= TOLERANCE_HZ, \
        f"{who} heard {m.frequency_hz:.1f} Hz, expected {expected_hz} ± {TOLERANCE_HZ} Hz"


# ---------------------------------------------------------------------------------------
# Media alone, signaling by direct calls: tells a media failure from a signaling one.

@pytest.mark.parametrize("trickle", TRICKLE)
def test_voice_media_direct(trickle):
    ada_heard, bob_heard = asyncio.run(asyncio.wait_for(
        direct_call(TONE_ADA, TONE_BOB, trickle=trickle, timeout=AUDIO_TIMEOUT), TEST_TIMEOUT))
    assert_heard(ada_heard, TONE_BOB, "A")
    assert_heard(bob_heard, TONE_ADA, "B")


# ---------------------------------------------------------------------------------------
# The server: a real lobbykit-server on a free port, in memory.

@pytest.fixture
def voice_server_url():
    if not os.path.exists(SERVER):
        pytest.fail(f"no lobbykit-server at {SERVER} (set LOBBYKIT_SERVER)")
    log = tempfile.TemporaryFile(mode="w+")
    proc = subprocess.Popen([SERVER, "--port", "0", "--memory", "--no-static"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + STEP_TIMEOUT
        port = None
        while port is None:
            log.seek(0)
            found = re.search(r"lobbykit-server listening on http://[^\s:]+:(\d+)", log.read())
            if found:
                port = int(found.group(1))
            elif proc.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                pytest.fail(f"lobbykit-server did not start (exit {proc.poll()}):\n{log.read()}")
            else:
                time.sleep(0.02)
        yield f"ws://127.0.0.1:{port}/ws"
        log.seek(0)
        assert proc.poll() is None, f"lobbykit-server died (exit {proc.returncode}):\n{log.read()}"
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


# ---------------------------------------------------------------------------------------
# lobbykit glue: the only code that touches the lobbykit API; adapt here when it changes.
# lobbykit API used: AsyncClient(url, name=), events() (made before start()), start()/stop(), snapshot().name, create_lobby(name)["lobby"]["id"], join_lobby(id, has_media=), send_description(to, type, sdp), send_candidate(to, candidate|None, sdp_mid, sdp_mline_index); events .type, PeerAdded.peer_id/.should_offer, Description.from_/.description.type/.sdp, Candidate.from_/.candidate (IceCandidate .candidate/.sdp_mid/.sdp_mline_index, or None), ErrorEvent.code/.message

class Signaling:
    """One lobbykit participant, reduced to what the voice test needs. Events come out
    normalized: ("peer_added", peer_id, should_offer), ("description", from, type, sdp),
    ("candidate", from, (candidate, sdp_mid, sdp_mline_index) or None), (other_type, ev)."""

    def __init__(self, url, name):
        import lobbykit
        self.name = name
        self.client = lobbykit.AsyncClient(url, name=name)
        self.events = self.client.events()     # before start(): no event missed
        self.queue = asyncio.Queue()
        self._pump = None
        self._started = False

    async def start(self):
        self._started = True
        await asyncio.wait_for(self.client.start(), STEP_TIMEOUT)
        # join_lobby needs the name, which the client sets by itself after the welcome
        deadline = time.monotonic() + STEP_TIMEOUT
        while (await self.client.snapshot()).name != self.name:
            assert time.monotonic() < deadline, f"{self.name}: name not set in time"
            await asyncio.sleep(0.02)
        self._pump = asyncio.ensure_future(self._pump_events())

    async def stop(self):
        if self._pump:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
        if self._started:
            await asyncio.wait_for(self.client.stop(), STEP_TIMEOUT)

    async def create_lobby(self, name):
        result = await asyncio.wait_for(self.client.create_lobby(name), STEP_TIMEOUT)
        return result["lobby"]["id"]

    async def join(self, lobby_id):
        await asyncio.wait_for(self.client.join_lobby(lobby_id, has_media=True), STEP_TIMEOUT)

    async def send_description(self, to, type_, sdp):
        await asyncio.wait_for(self.client.send_description(to, type_, sdp), STEP_TIMEOUT)

    async def send_candidate(self, to, cand):
        line, mid, index = cand if cand else (None, None, None)
        await asyncio.wait_for(self.client.send_candidate(to, line, mid, index), STEP_TIMEOUT)

    async def _pump_events(self):
        async for ev in self.events:
            if ev.type == "peer_added":
                item = (ev.type, ev.peer_id, ev.should_offer)
            elif ev.type == "description":
                item = (ev.type, ev.from_, ev.description.type, ev.description.sdp)
            elif ev.type == "candidate":
                c = ev.candidate
                item = (ev.type, ev.from_,
                        (c.candidate, c.sdp_mid, c.sdp_mline_index) if c and c.candidate else None)
            elif ev.type == "error":
                item = (ev.type, f"{ev.code}: {ev.message}")
            else:
                item = (ev.type, ev)
            await self.queue.put(item)


# ---------------------------------------------------------------------------------------
# A participant: answers the managed mesh with VoicePeers.

class Participant:
    def __init__(self, sig, name, tone_hz, trickle):
        self.sig, self.name, self.tone_hz, self.trickle = sig, name, tone_hz, trickle
        self.peers = {}              # peer id -> VoicePeer
        self.offered_to = []
        self.log = []                # (type, ...) of every event, for failure messages
        self.peer_ready = asyncio.Event()

    async def run(self):
        while True:
            item = await self.sig.queue.get()
            self.log.append(item if item[0] == "candidate" else
                            item[:2] if item[0] in ("peer_added", "description", "error") else
                            item[:1])
            await self._handle(item)

    async def _send_local_candidates(self, peer_id, peer):
        for cand in peer.local_candidates():
            await self.sig.send_candidate(peer_id, cand)

    async def _handle(self, item):
        kind = item[0]
        if kind == "peer_added":
            _, peer_id, should_offer = item
            assert peer_id not in self.peers, f"{self.name}: second peer_added for {peer_id}"
            peer = self.peers[peer_id] = VoicePeer(self.name, self.tone_hz, trickle=self.trickle)
            self.peer_ready.set()
            if should_offer:
                self.offered_to.append(peer_id)
                await self.sig.send_description(peer_id, "offer", await peer.make_offer())
                await self._send_local_candidates(peer_id, peer)
        elif kind == "description":
            _, sender, type_, sdp = item
            peer = self.peers.get(sender)
            assert peer is not None, f"{self.name}: description from unknown peer {sender}"
            if type_ == "offer":
                answer = await peer.accept_offer(sdp)
                await self.sig.send_description(sender, "answer", answer)
                await self._send_local_candidates(sender, peer)
            elif type_ == "answer":
                await peer.accept_answer(sdp)
            else:
                raise AssertionError(f"{self.name}: unexpected description type {type_!r}")
        elif kind == "candidate":
            _, sender, cand = item
            peer = self.peers.get(sender)
            assert peer is not None, f"{self.name}: candidate from unknown peer {sender}"
            await peer.add_candidate(*(cand or (None,)))
        elif kind == "peer_removed":
            raise AssertionError(f"{self.name}: unexpected peer_removed {item[1]!r}")
        elif kind == "error":
            raise AssertionError(f"{self.name}: server error {item[1]!r}")

    async def close(self):
        for peer in self.peers.values():
            await peer.close()


async def _until_first_failure(main, *background):
    """Await `main`; fail as soon as a background task (an event loop) fails."""
    main = asyncio.ensure_future(main)
    done, _ = await asyncio.wait([main, *background], return_when=asyncio.FIRST_COMPLETED)
    for t in done:
        if t is not main:
            main.cancel()
            t.result()   # raises the background failure
            raise AssertionError("an event loop ended early")
    return main.result()


async def voice_call(url, trickle):
    ada_sig, bob_sig = Signaling(url, "Ada"), Signaling(url, "Bob")
    ada = Participant(ada_sig, "Ada", TONE_ADA, trickle)
    bob = Participant(bob_sig, "Bob", TONE_BOB, trickle)
    loops = []
    try:
        await ada_sig.start()
        await bob_sig.start()
        loops = [asyncio.ensure_future(ada.run()), asyncio.ensure_future(bob.run())]
        lobby_id = await ada_sig.create_lobby(f"voice-{uuid.uuid4().hex[:8]}")
        assert lobby_id, "create_lobby returned no lobby id"
        await ada_sig.join(lobby_id)
        await bob_sig.join(lobby_id)

        async def both_peers():
            await ada.peer_ready.wait()
            await bob.peer_ready.wait()
        try:
            await _until_first_failure(asyncio.wait_for(both_peers(), STEP_TIMEOUT), *loops)
        except asyncio.TimeoutError:
            raise AssertionError(f"no peer_added within {STEP_TIMEOUT}s: Ada saw {ada.log}, "
                                 f"Bob saw {bob.log}") from None
        (bob_id,), (ada_id,) = ada.peers, bob.peers
        # the managed mesh: the newcomer (Bob) offers, and only he
        assert bob.offered_to == [ada_id] and ada.offered_to == [], \
            f"offers: Ada -> {ada.offered_to}, Bob -> {bob.offered_to}"

        ada_peer, bob_peer = ada.peers[bob_id], bob.peers[ada_id]
        try:
            ada_heard, bob_heard = await _until_first_failure(asyncio.gather(
                ada_peer.measured_frequency(AUDIO_TIMEOUT),
                bob_peer.measured_frequency(AUDIO_TIMEOUT)), *loops)
        except VoiceTimeout as e:
            raise VoiceTimeout(f"{e}\nAda saw {ada.log}\nBob saw {bob.log}") from None
        for peer in (ada_peer, bob_peer):
            ips = peer.local_candidate_ips()
            assert ips and set(ips) == {"127.0.0.1"}, f"{peer.name} candidates on {ips}"
            if trickle:   # every candidate came through lobbykit's relay
                assert peer.candidates_added >= 1, f"{peer.name}: no relayed candidate used"
        return ada_heard, bob_heard, ada.log, bob.log
    finally:
        for t in loops:
            t.cancel()
        await ada.close()
        await bob.close()
        for sig in (ada_sig, bob_sig):
            with contextlib.suppress(Exception):
                await sig.stop()


@pytest.mark.parametrize("trickle", TRICKLE)
def test_voice_through_lobbykit(voice_server_url, trickle):
    ada_heard, bob_heard, ada_log, bob_log = asyncio.run(
        asyncio.wait_for(voice_call(voice_server_url, trickle), TEST_TIMEOUT))
    print(f"Ada heard {ada_heard}\nBob heard {bob_heard}\nAda events {ada_log}\n"
          f"Bob events {bob_log}")
    assert_heard(ada_heard, TONE_BOB, "Ada")
    assert_heard(bob_heard, TONE_ADA, "Bob")

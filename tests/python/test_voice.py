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
import sys
import uuid

import pytest

if os.environ.get("LOBBYKIT_SKIP_VOICE", "") not in ("", "0"):
    pytest.skip("LOBBYKIT_SKIP_VOICE is set", allow_module_level=True)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conftest import server_process  # noqa: E402
try:
    from voice_peer import VoiceTimeout, direct_call, loopback_ice, measure_track
except ImportError as e:  # fail, do not skip: the suite should say why it cannot run
    raise ImportError(f"voice test needs aiortc/av/numpy (Debian python3-aiortc, run "
                      f"/usr/bin/python3) or LOBBYKIT_SKIP_VOICE=1: {e}") from e

TONE_ADA, TONE_BOB = 440.0, 880.0
TOLERANCE_HZ = 10.0
MIN_RMS = 0.05           # the tone is sent at rms 0.35; silence or noise fails
STEP_TIMEOUT = 10.0      # server start, connect, each request, each signaling step
AUDIO_TIMEOUT = 15.0     # from both peers existing to 1.2 s of audio heard on each side
TEST_TIMEOUT = 60.0      # the whole scenario

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
    with server_process() as port:
        yield f"ws://127.0.0.1:{port}/ws"


# ---------------------------------------------------------------------------------------
# Through lobbykit: each participant is an AsyncClient whose managed mesh is followed by the
# shipped lobbykit.media.Mesh, sending a tone and handing out the peer's incoming track.
# lobbykit API used: AsyncClient(url, name=), events() (made before start()), start()/stop(),
# snapshot().name, create_lobby(name)["lobby"]["id"], join_lobby(id, has_media=),
# media.Mesh(client, audio=, trickle=), Mesh.start()/tracks()/peers/errors/close(),
# media.ToneTrack(hz); events .type, PeerAdded.should_offer, Description.description.type,
# Candidate.candidate.

class Member:
    def __init__(self, url, name, tone_hz, trickle):
        import lobbykit
        from lobbykit.media import Mesh, ToneTrack
        self.name = name
        self.client = lobbykit.AsyncClient(url, name=name)
        self.mesh = Mesh(self.client, audio=ToneTrack(tone_hz), trickle=trickle)
        self.events = self.client.events()     # before start(): no event missed
        self.log = []                          # (type, detail) of the mesh's events
        self._pump = None
        self._started = False

    async def start(self):
        self._started = True
        ready = await asyncio.wait_for(self.client.start(), STEP_TIMEOUT)
        assert ready["name"] == self.name  # start() returns once the name is taken
        await self.mesh.start()
        self._pump = asyncio.ensure_future(self._record())

    async def _record(self):
        async for ev in self.events:
            if ev.type == "peer_added":
                self.log.append((ev.type, ev.should_offer))
            elif ev.type == "description":
                self.log.append((ev.type, ev.description.type))
            elif ev.type == "candidate":
                relayed = ev.candidate is not None and bool(ev.candidate.candidate)
                self.log.append((ev.type, relayed))
            elif ev.type in ("peer_removed", "error"):
                self.log.append((ev.type, ev))

    async def first_track(self):
        async for peer_id, track in self.mesh.tracks():
            return peer_id, track
        raise AssertionError(f"{self.name}: the mesh closed without a track")

    async def stop(self):
        await self.mesh.close()
        if self._pump:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump
        if self._started:
            await asyncio.wait_for(self.client.stop(), STEP_TIMEOUT)


async def voice_call(url, trickle):
    with loopback_ice():
        ada = Member(url, "Ada", TONE_ADA, trickle)
        bob = Member(url, "Bob", TONE_BOB, trickle)
        try:
            await ada.start()
            await bob.start()
            lobby = await asyncio.wait_for(
                ada.client.create_lobby(f"voice-{uuid.uuid4().hex[:8]}"), STEP_TIMEOUT)
            lobby_id = lobby["lobby"]["id"]
            await asyncio.wait_for(ada.client.join_lobby(lobby_id, has_media=True), STEP_TIMEOUT)
            await asyncio.wait_for(bob.client.join_lobby(lobby_id, has_media=True), STEP_TIMEOUT)
            try:
                (bob_id, ada_track), (ada_id, bob_track) = await asyncio.wait_for(
                    asyncio.gather(ada.first_track(), bob.first_track()), STEP_TIMEOUT)
            except asyncio.TimeoutError:
                raise AssertionError(f"no incoming track within {STEP_TIMEOUT}s: Ada saw "
                                     f"{ada.log}, Bob saw {bob.log}") from None
            try:
                ada_heard, bob_heard = await asyncio.gather(
                    measure_track(ada_track, AUDIO_TIMEOUT),
                    measure_track(bob_track, AUDIO_TIMEOUT))
            except VoiceTimeout as e:
                raise VoiceTimeout(f"{e}\nAda saw {ada.log}\nBob saw {bob.log}") from None
            # the managed mesh: the newcomer (Bob) offers, and only he
            assert ("peer_added", True) in bob.log and ("peer_added", False) in ada.log, \
                f"Ada saw {ada.log}, Bob saw {bob.log}"
            assert ("description", "offer") in ada.log and ("description", "answer") in bob.log
            assert ("description", "offer") not in bob.log
            for member, other in ((ada, bob_id), (bob, ada_id)):
                assert member.mesh.errors == [], f"{member.name}: {member.mesh.errors}"
                sdp = member.mesh.peers[other].localDescription.sdp
                ips = [ln.split()[4] for ln in sdp.splitlines() if ln.startswith("a=candidate:")]
                assert ips and set(ips) == {"127.0.0.1"}, f"{member.name} candidates on {ips}"
                if trickle:   # the candidates came one by one through lobbykit's relay
                    assert ("candidate", True) in member.log, f"{member.name}: {member.log}"
                else:
                    assert ("candidate", True) not in member.log, f"{member.name}: {member.log}"
                assert ("candidate", False) in member.log  # end of candidates, relayed
            return ada_heard, bob_heard, ada.log, bob.log
        finally:
            for member in (ada, bob):
                with contextlib.suppress(Exception):
                    await member.stop()


@pytest.mark.parametrize("trickle", TRICKLE)
def test_voice_through_lobbykit(voice_server_url, trickle):
    ada_heard, bob_heard, ada_log, bob_log = asyncio.run(
        asyncio.wait_for(voice_call(voice_server_url, trickle), TEST_TIMEOUT))
    print(f"Ada heard {ada_heard}\nBob heard {bob_heard}\nAda events {ada_log}\n"
          f"Bob events {bob_log}")
    assert_heard(ada_heard, TONE_BOB, "Ada")
    assert_heard(bob_heard, TONE_ADA, "Bob")

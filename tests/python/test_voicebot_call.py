"""examples/voicebot in a real call: a lobbykit-server, the voicebot as its own process (run
as its README says), and a person on aiortc (lobbykit.media.Mesh) who speaks espeak-ng's
"what time is it" into the call. The assistant must post what it heard and its answer in the
chat and answer by voice (audio from the bot above silence); the reader must speak a chat
message. ICE stays on loopback (tests/python/voice_peer.py)."""

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lobbykit
from conftest import TIMEOUT, server_process, subprocess_env, wait_until

HERE = Path(__file__).resolve().parent
VOICEBOT = HERE.parents[1] / "examples" / "voicebot"
KEY = "voicebot-test-key"
PYTHON = sys.executable

pytestmark = [
    pytest.mark.skipif(os.environ.get("LOBBYKIT_SKIP_VOICE", "") not in ("", "0"),
                       reason="LOBBYKIT_SKIP_VOICE is set"),
    # Under the sanitizer build the voicebot process would run PocketSphinx and espeak-ng
    # through ASan's preloaded interceptors, several times slower than real time; the
    # server side of the call runs under ASan in test_bots.py and tests/integration.
    pytest.mark.skipif("libasan" in os.environ.get("LD_PRELOAD", ""),
                       reason="voice recognition in real time is checked in the Release build"),
]


def start_voicebot(port: int) -> subprocess.Popen:
    launcher = (f"import sys, runpy; sys.path.insert(0, {str(HERE)!r}); import voice_peer; "
                f"voice_peer._loopback_acquire(); sys.argv = ['main.py', '--url', "
                f"'ws://127.0.0.1:{port}/ws', '--key', {KEY!r}, '-v']; "
                f"runpy.run_path({str(VOICEBOT / 'main.py')!r}, run_name='__main__')")
    return subprocess.Popen([PYTHON, "-c", launcher], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=subprocess_env())


def stop(proc: subprocess.Popen) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT * 3)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=TIMEOUT)
    return out


async def loudest(track, seconds: float, window_s: float = 0.2) -> float:
    """The largest RMS (0..1) of any window of `window_s` of the track within `seconds`."""
    import numpy as np
    best = 0.0
    buf = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame = await asyncio.wait_for(track.recv(), deadline - time.monotonic())
        except asyncio.TimeoutError:
            break
        samples = frame.to_ndarray().astype(np.float32).reshape(-1) / 32768.0
        buf.append(samples)
        if sum(len(b) for b in buf) >= int(frame.sample_rate * window_s * len(frame.layout.channels)):
            chunk = np.concatenate(buf)
            best = max(best, float(np.sqrt(np.mean(chunk * chunk))))
            buf = []
    return best


async def chats_from(events, sender_pred, want: int, timeout: float):
    """The next `want` chat texts whose sender passes sender_pred."""
    texts = []

    async def collect():
        async for e in events:
            if isinstance(e, lobbykit.events.Chat) and sender_pred(e.message):
                texts.append(e.message.text)
                if len(texts) == want:
                    return
    await asyncio.wait_for(collect(), timeout)
    return texts


def test_the_assistant_hears_what_time_is_it_and_answers_in_chat_and_by_voice():
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(VOICEBOT))
    from voice_peer import loopback_ice
    from lobbykit.media import Mesh
    from voicebot.track import SpeechTrack
    from voicebot.tts import Synthesizer

    with server_process("--provider-key", KEY) as port:
        bot = start_voicebot(port)
        try:
            async def main():
                with loopback_ice():
                    client = lobbykit.AsyncClient(f"ws://127.0.0.1:{port}/ws", name="Ada")
                    voice = SpeechTrack()
                    mesh = Mesh(client, audio=voice)
                    events = client.events()
                    try:
                        await asyncio.wait_for(client.start(), TIMEOUT)
                        lobby_id = (await client.create_lobby("Voice"))["lobby"]["id"]
                        await client.join_lobby(lobby_id, has_media=True, video_muted=True)
                        await mesh.start()
                        loop = asyncio.get_running_loop()
                        await loop.run_in_executor(None, lambda: wait_until(
                            lambda: _kinds(port),
                            what="the voicebot registered"))
                        added = await client.request("add_bot", {"kind": "assistant"})
                        bot_peer, track = await asyncio.wait_for(mesh.tracks().__anext__(),
                                                                 3 * TIMEOUT)
                        is_bot = lambda m: m.sender == bot_peer
                        greeting = await chats_from(events, is_bot, 1, 3 * TIMEOUT)
                        assert "what can you do" in greeting[0], greeting
                        # Silence first (the bot's voice detector learns the floor), then the
                        # question, as a person would ask it.
                        pcm = Synthesizer().synthesize("what time is it")
                        await asyncio.sleep(1.0)
                        said = voice.say(pcm)
                        report = await chats_from(events, is_bot, 1, 4 * TIMEOUT)
                        assert re.search(r'Heard Ada: "what time is it"\. Answered: "It is ',
                                         report[0]), report
                        await asyncio.wait_for(said, TIMEOUT)
                        # The answer is spoken: the bot's audio rises above silence.
                        level = await loudest(track, 4.0)
                        assert level > 0.02, f"no voice from the assistant (rms {level:.4f})"
                        assert mesh.errors == []
                        # Done: the bot goes, so the voicebot drains at once on SIGTERM.
                        await client.request("remove_bot",
                                             {"dispatch_id": added["dispatch"]["dispatch_id"]})
                    finally:
                        await mesh.close()
                        await client.stop()

            asyncio.run(asyncio.wait_for(main(), 120))
        finally:
            out = stop(bot)
        assert bot.returncode == 0, out


def test_the_reader_speaks_a_chat_message_into_the_call():
    sys.path.insert(0, str(HERE))
    from voice_peer import loopback_ice
    from lobbykit.media import Mesh, ToneTrack

    with server_process("--provider-key", KEY) as port:
        bot = start_voicebot(port)
        try:
            async def main():
                with loopback_ice():
                    client = lobbykit.AsyncClient(f"ws://127.0.0.1:{port}/ws", name="Bea")
                    mesh = Mesh(client, audio=ToneTrack(440))
                    events = client.events()
                    try:
                        await asyncio.wait_for(client.start(), TIMEOUT)
                        lobby_id = (await client.create_lobby("Reading"))["lobby"]["id"]
                        await client.join_lobby(lobby_id, has_media=True, video_muted=True)
                        await mesh.start()
                        loop = asyncio.get_running_loop()
                        await loop.run_in_executor(None, lambda: wait_until(
                            lambda: _kinds(port), what="the voicebot registered"))
                        added = await client.request("add_bot", {"kind": "reader"})
                        bot_peer, track = await asyncio.wait_for(mesh.tracks().__anext__(),
                                                                 3 * TIMEOUT)
                        await chats_from(events, lambda m: m.sender == bot_peer, 1, 3 * TIMEOUT)
                        quiet = await loudest(track, 1.0)
                        await client.chat("The meeting moves to room four at noon")
                        level = await loudest(track, 6.0)
                        assert level > 0.02 and level > 3 * quiet, (quiet, level)
                        await client.request("remove_bot",
                                             {"dispatch_id": added["dispatch"]["dispatch_id"]})
                    finally:
                        await mesh.close()
                        await client.stop()

            asyncio.run(asyncio.wait_for(main(), 120))
        finally:
            out = stop(bot)
        assert bot.returncode == 0, out


def _kinds(port: int) -> bool:
    import json
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/bots/kinds", timeout=5) as r:
        kinds = {k["kind"] for k in json.loads(r.read())["kinds"] if k["available"]}
    return {"assistant", "reader"} <= kinds

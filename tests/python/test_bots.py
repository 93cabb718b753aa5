"""Bots end to end: a real lobbykit-server process, a bot provider process written with
lobbykit.BotProvider (bot_program.py), dispatches made over the admin HTTP API
(docs/bots.md, "HTTP"), and a person in the lobby who sees the bot come, talk and go.
Expected behaviour is docs/bots.md's. Every wait has a deadline; the provider process is
stopped (SIGTERM, then SIGKILL) at the end of each test.
"""

import asyncio
import contextlib
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

import lobbykit
from conftest import (PYTHON, TIMEOUT, EventLog, is_chat, server_process, subprocess_env,
                      wait_until)

HERE = Path(__file__).resolve().parent
PROGRAM = HERE / "bot_program.py"
KEY = "provider-key-" + uuid.uuid4().hex
ADMIN = "admin-" + uuid.uuid4().hex
# Short bot timers so failures and retries happen within a test's time.
SERVER_FLAGS = ("--admin-token", ADMIN, "--provider-key", KEY, "--bot-status-interval-ms",
                "500", "--bot-retry-ms", "500", "--bot-reclaim-ms", "1000",
                "--bot-max-attempts", "2")


class Http:
    """The server's HTTP API with the admin token."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"Bearer {ADMIN}",
                                              "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                return resp.status, json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")

    def add_bot(self, lobby_id, key, kind, metadata=None):
        body = {"kind": kind}
        if metadata is not None:
            body["metadata"] = metadata
        status, result = self.call("PUT", f"/api/admin/lobbies/{lobby_id}/bots/{key}", body)
        assert status == 201, (status, result)
        return result["dispatch"]

    def dispatches(self):
        status, result = self.call("GET", "/api/admin/bots/dispatches")
        assert status == 200, (status, result)
        return {d["dispatch_id"]: d for d in result["dispatches"]}

    def providers(self):
        status, result = self.call("GET", "/api/admin/bots/providers")
        assert status == 200, (status, result)
        return result["providers"]


class ProviderProcess:
    """bot_program.py as a child process; its stdout lines are read by a thread."""

    def __init__(self, url, *args):
        self.proc = subprocess.Popen([PYTHON, str(PROGRAM), url, KEY, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True, env=subprocess_env())
        self.lines = queue.Queue()
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_line(self, pattern, timeout=TIMEOUT):
        """The first line (from here on) matching pattern; fails with what it printed."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(left, 0))
            except queue.Empty:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s; "
                                     f"the provider printed: {self.seen[-30:]}") from None
            if line is None:
                raise AssertionError(f"the provider exited ({self.proc.wait()}) before a line "
                                     f"matching {pattern!r}; it printed: {self.seen[-30:]}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def printed(self):
        """Every line it printed so far (those the reader thread has taken in)."""
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return list(self.seen)
            if line is None:
                self.lines.put(None)  # keep the end for wait_line
                return list(self.seen)
            self.seen.append(line)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(TIMEOUT)


@pytest.fixture
def bot_server():
    with server_process(*SERVER_FLAGS) as port:
        yield port


@pytest.fixture
def start_provider(bot_server):
    started = []

    def start(*args):
        p = ProviderProcess(f"ws://127.0.0.1:{bot_server}/ws", *args)
        started.append(p)
        p.wait_line(r"^registered p")
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def person(bot_server):
    """Ada, a person in a fresh lobby: (client, log, lobby_id)."""
    client = lobbykit.Client(f"ws://127.0.0.1:{bot_server}/ws")
    log = EventLog()
    client.subscribe(log)
    client.start()
    try:
        client.wait_connected(timeout=TIMEOUT)
        client.set_name("Ada")
        lobby_id = client.create_lobby("Bots " + uuid.uuid4().hex[:6])["lobby"]["id"]
        client.join_lobby(lobby_id)
        yield client, log, lobby_id
    finally:
        client.stop()


def bot_joined(name=None):
    return lambda e: (isinstance(e, lobbykit.events.ParticipantJoined)
                      and e.participant.is_bot
                      and (name is None or e.participant.name == name))


def left(peer_id):
    return lambda e: isinstance(e, lobbykit.events.ParticipantLeft) and e.peer_id == peer_id


def test_an_admin_dispatch_brings_the_bot_into_the_lobby_and_removing_it_cancels_the_job(
        bot_server, start_provider, person):
    client, log, lobby_id = person
    http = Http(bot_server)
    provider = start_provider("--max-jobs", "2")
    dispatch = http.add_bot(lobby_id, "greeter", "greeter")
    assert (dispatch["kind"], dispatch["key"], dispatch["lobby_id"]) == \
        ("greeter", "greeter", lobby_id)

    bot = log.wait_for(bot_joined("greeter"), what="the bot joining").participant
    log.wait_for(is_chat("hello from greeter (attempt 1)"), what="the bot's hello")
    job_id = provider.wait_line(r"^job (\S+) started greeter$").group(1)
    # An ordinary member flagged as a bot; this provider runs bots without media.
    member = {p.peer_id: p for p in client.snapshot().participants}[bot.peer_id]
    assert member.is_bot and not member.has_media

    wait_until(lambda: http.dispatches()[dispatch["dispatch_id"]]["state"] == "running",
               what="the dispatch running")
    d = http.dispatches()[dispatch["dispatch_id"]]
    assert d["bot_peer_id"] == bot.peer_id and d["job"]["job_id"] == job_id
    (listed,) = http.providers()
    assert (listed["name"], listed["version"], listed["max_jobs"]) == ("test-host", "test 1", 2)
    assert [k if isinstance(k, str) else k["kind"] for k in listed["kinds"]] == ["greeter"]
    wait_until(lambda: http.providers()[0]["running"] == 1, what="the provider running 1 job")

    status, body = http.call("DELETE", f"/api/admin/lobbies/{lobby_id}/bots/greeter")
    assert status == 200 and body == {"ok": True}
    provider.wait_line(rf"^job {job_id} cancelled removed$")
    log.wait_for(left(bot.peer_id), what="the bot leaving")


def test_a_handler_that_returns_ends_the_job_and_removes_the_dispatch(
        bot_server, start_provider, person):
    client, log, lobby_id = person
    http = Http(bot_server)
    start_provider()
    dispatch = http.add_bot(lobby_id, "bye", "greeter", {"leave": "goodbye"})
    bot = log.wait_for(bot_joined(), what="the bot joining").participant
    log.wait_for(is_chat("goodbye"), what="the bot's goodbye")
    log.wait_for(left(bot.peer_id), what="the bot leaving")
    wait_until(lambda: dispatch["dispatch_id"] not in http.dispatches(),
               what="the dispatch removed (ended_by_bot)")


def test_a_failing_handler_ends_the_job_with_retry_and_the_dispatch_runs_again(
        bot_server, start_provider, person):
    client, log, lobby_id = person
    http = Http(bot_server)
    provider = start_provider()
    dispatch = http.add_bot(lobby_id, "broken", "greeter", {"fail": "boom"})
    first = provider.wait_line(r"^job (\S+) started").group(1)
    second = provider.wait_line(r"^job (\S+) started").group(1)  # a new job, same dispatch
    assert first != second
    assert dispatch["dispatch_id"] in http.dispatches()  # not removed: retry
    status, _ = http.call("DELETE", f"/api/admin/lobbies/{lobby_id}/bots/broken")
    assert status == 200
    wait_until(lambda: dispatch["dispatch_id"] not in http.dispatches(),
               what="the dispatch removed")


def test_a_full_provider_is_not_offered_more_and_takes_the_next_job_when_one_ends(
        bot_server, start_provider, person):
    client, log, lobby_id = person
    http = Http(bot_server)
    start_provider("--max-jobs", "1")
    first = http.add_bot(lobby_id, "one", "greeter")
    bot = log.wait_for(bot_joined(), what="the first bot").participant
    second = http.add_bot(lobby_id, "two", "greeter")
    wait_until(lambda: http.dispatches()[second["dispatch_id"]]["reason"] == "no_capacity",
               what="the second dispatch waiting for capacity")
    assert http.dispatches()[second["dispatch_id"]]["state"] == "waiting"
    status, _ = http.call("DELETE", f"/api/admin/lobbies/{lobby_id}/bots/one")
    assert status == 200
    log.wait_for(left(bot.peer_id), what="the first bot leaving")
    second_bot = log.wait_for(lambda e: bot_joined()(e) and e.participant.peer_id != bot.peer_id,
                              what="the second bot joining").participant
    assert http.dispatches()[second["dispatch_id"]]["bot_peer_id"] in ("", second_bot.peer_id)
    assert first["dispatch_id"] not in http.dispatches()


def test_a_cancelled_job_frees_its_place_while_its_handler_still_cleans_up(
        bot_server, start_provider, person):
    # The server offers a cancelled job's place at once; a provider that counted the job
    # until its handler had finished declined that offer ("full"), and the dispatch then
    # waited for bot_retry_ms.
    client, log, lobby_id = person
    http = Http(bot_server)
    provider = start_provider("--max-jobs", "1")
    http.add_bot(lobby_id, "one", "greeter", {"linger": 6})
    bot = log.wait_for(bot_joined(), what="the first bot").participant
    first_job = provider.wait_line(r"^job (\S+) started").group(1)
    # Its hello answered, the handler waits to be cancelled: removed before that, the bot's
    # chat fails with connection_lost, and the job with it.
    log.wait_for(is_chat("hello from greeter (attempt 1)"), what="the first bot's hello")
    second = http.add_bot(lobby_id, "two", "greeter")
    wait_until(lambda: http.dispatches()[second["dispatch_id"]]["reason"] == "no_capacity",
               what="the second dispatch waiting for capacity")
    status, _ = http.call("DELETE", f"/api/admin/lobbies/{lobby_id}/bots/one")
    assert status == 200
    provider.wait_line(rf"^job {first_job} cancelled")
    log.wait_for(lambda e: bot_joined()(e) and e.participant.peer_id != bot.peer_id,
                 what="the second bot joining")
    # ... while the first job's handler was still cleaning up.
    assert f"job {first_job} lingered" not in provider.printed()


def test_sigterm_drains_within_the_bound_and_the_job_goes_back_to_waiting(
        bot_server, start_provider, person):
    client, log, lobby_id = person
    http = Http(bot_server)
    provider = start_provider("--drain-timeout", "1")
    dispatch = http.add_bot(lobby_id, "greeter", "greeter")
    bot = log.wait_for(bot_joined(), what="the bot joining").participant
    provider.wait_line(r"^job \S+ started")
    began = time.monotonic()
    provider.proc.send_signal(signal.SIGTERM)
    # The job outlives the 1 s drain: it is ended (with retry), the provider stops.
    provider.wait_line(r"^job \S+ cancelled")
    provider.wait_line(r"^stopped$")
    assert provider.proc.wait(TIMEOUT) == 0
    assert time.monotonic() - began < 1 + TIMEOUT
    log.wait_for(left(bot.peer_id), what="the bot leaving")
    wait_until(lambda: http.dispatches()[dispatch["dispatch_id"]]["state"] == "waiting",
               what="the dispatch waiting for a provider again")


def test_a_wrong_key_is_refused(bot_server):
    async def main():
        provider = lobbykit.BotProvider(f"ws://127.0.0.1:{bot_server}/ws", key="wrong",
                                        name="intruder", kinds={"x": "nothing"})
        try:
            with pytest.raises(lobbykit.RequestError) as caught:
                await asyncio.wait_for(provider.start(), TIMEOUT)
            assert caught.value.code == "unauthorized"
            assert provider.state == "disconnected"
        finally:
            await provider.stop()
    asyncio.run(main())


def test_provider_options_are_checked():
    with pytest.raises(ValueError):
        lobbykit.BotProvider("ws://127.0.0.1:1/ws", key="k", name="n", kinds={})
    with pytest.raises(ValueError):
        lobbykit.BotProvider("ws://127.0.0.1:1/ws", key="k", name="n", kinds={"a": ""},
                             max_jobs=0)
    with pytest.raises(ValueError):
        lobbykit.BotProvider("http://127.0.0.1:1/", key="k", name="n", kinds={"a": ""})
    provider = lobbykit.BotProvider("ws://127.0.0.1:1/ws", key="k", name="n", kinds={"a": ""})
    with pytest.raises(ValueError):
        provider.handler("b")


def test_an_in_process_provider_declines_kinds_it_has_no_handler_for(bot_server, person):
    """An asyncio BotProvider in this process: a kind without a handler is declined, so the
    dispatch waits (declined) instead of being accepted."""
    client, log, lobby_id = person
    http = Http(bot_server)

    async def main():
        provider = lobbykit.BotProvider(f"ws://127.0.0.1:{bot_server}/ws", key=KEY,
                                        name="picky", kinds={"greeter": "has no handler"},
                                        media=False)
        offers = []
        offered = asyncio.Event()

        def on_event(e):
            if isinstance(e, lobbykit.JobOffer):
                offers.append(e)
                offered.set()
        provider.subscribe(on_event)
        async with provider:
            dispatch = http.add_bot(lobby_id, "greeter", "greeter", {"n": 1})
            await asyncio.wait_for(offered.wait(), TIMEOUT)
            assert offers[0].kind == "greeter" and offers[0].metadata == {"n": 1}
            assert offers[0].lobby_id == lobby_id
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: wait_until(
                lambda: http.dispatches()[dispatch["dispatch_id"]]["reason"] == "declined",
                what="the dispatch declined"))
            assert provider.jobs == {}
    asyncio.run(main())


@pytest.mark.skipif(os.environ.get("LOBBYKIT_SKIP_VOICE", "") not in ("", "0"),
                    reason="LOBBYKIT_SKIP_VOICE is set")
def test_a_voice_bot_and_a_person_hear_each_other(bot_server, start_provider):
    sys.path.insert(0, str(HERE))
    from voice_peer import loopback_ice, measure_track
    from lobbykit.media import Mesh, ToneTrack
    http = Http(bot_server)
    start_provider("--media")

    async def main():
        with loopback_ice():
            client = lobbykit.AsyncClient(f"ws://127.0.0.1:{bot_server}/ws", name="Ada")
            mesh = Mesh(client, audio=ToneTrack(880))
            events = client.events()
            try:
                await asyncio.wait_for(client.start(), TIMEOUT)  # returns once "Ada" is taken
                lobby_id = (await client.create_lobby("Voice"))["lobby"]["id"]
                await client.join_lobby(lobby_id, has_media=True, video_muted=True)
                await mesh.start()
                http.add_bot(lobby_id, "voice", "voice", {"tone_hz": 440})
                peer_id, track = await asyncio.wait_for(mesh.tracks().__anext__(), 2 * TIMEOUT)
                heard = await measure_track(track, timeout=15)
                assert abs(heard.frequency_hz - 440) <= 10 and heard.rms > 0.05, heard
                # Its flags say what it sends: audio, no video.
                bot = {p.peer_id: p for p in (await client.snapshot()).participants}[peer_id]
                assert bot.is_bot and bot.has_media and not bot.audio_muted and bot.video_muted

                async def bot_says():
                    async for e in events:
                        if isinstance(e, lobbykit.events.Chat) and \
                                e.message.text.startswith("heard"):
                            return e.message.text
                text = await asyncio.wait_for(bot_says(), 20)
                hz = float(re.match(r"heard (\d+) Hz", text).group(1))
                assert abs(hz - 880) <= 10, text
                assert mesh.errors == []
            finally:
                await mesh.close()
                await client.stop()
    asyncio.run(asyncio.wait_for(main(), 60))


@pytest.mark.skipif(os.environ.get("LOBBYKIT_SKIP_VOICE", "") not in ("", "0"),
                    reason="LOBBYKIT_SKIP_VOICE is set")
def test_the_documented_voicebot_echoes_a_person_and_leaves_when_asked(bot_server):
    """examples/python/voicebot.py, the bot docs/python.md shows, run as its user would run it
    (with ICE kept on loopback for the test)."""
    sys.path.insert(0, str(HERE))
    from voice_peer import loopback_ice, measure_track
    from lobbykit.media import Mesh, ToneTrack
    example = HERE.parents[1] / "examples" / "python" / "voicebot.py"
    assert (HERE.parents[1] / "docs" / "python.md").read_text().count(example.read_text()) == 1, \
        "docs/python.md does not show examples/python/voicebot.py as it is"
    http = Http(bot_server)
    launcher = (f"import sys, runpy; sys.path.insert(0, {str(HERE)!r}); import voice_peer; "
                f"voice_peer._loopback_acquire(); runpy.run_path({str(example)!r}, "
                f"run_name='__main__')")
    proc = subprocess.Popen([PYTHON, "-c", launcher], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                            env=subprocess_env(LOBBYKIT_URL=f"ws://127.0.0.1:{bot_server}/ws",
                                               LOBBYKIT_PROVIDER_KEY=KEY))

    async def main():
        with loopback_ice():
            client = lobbykit.AsyncClient(f"ws://127.0.0.1:{bot_server}/ws", name="Ada")
            mesh = Mesh(client, audio=ToneTrack(660))
            events = client.events()
            try:
                await asyncio.wait_for(client.start(), TIMEOUT)  # returns once "Ada" is taken
                lobby_id = (await client.create_lobby("Echo"))["lobby"]["id"]
                await client.join_lobby(lobby_id, has_media=True, video_muted=True)
                await mesh.start()
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, lambda: wait_until(
                    lambda: http.providers(), what="the voicebot registered"))
                dispatch = http.add_bot(lobby_id, "echo", "echo")
                peer_id, track = await asyncio.wait_for(mesh.tracks().__anext__(), 2 * TIMEOUT)
                # The bot plays our own tone back once our track reached it: wait (bounded)
                # for a half-second window of it.
                deadline = time.monotonic() + 15
                while True:
                    heard = await measure_track(track, timeout=5, skip_s=0, analyse_s=0.5)
                    if abs(heard.frequency_hz - 660) <= 10 and heard.rms > 0.05:
                        break
                    assert time.monotonic() < deadline, f"no echo of 660 Hz: last {heard}"
                await client.chat("!leave")

                async def bot_left():
                    async for e in events:
                        if isinstance(e, lobbykit.events.ParticipantLeft) and \
                                e.peer_id == peer_id:
                            return
                await asyncio.wait_for(bot_left(), TIMEOUT)
                await loop.run_in_executor(None, lambda: wait_until(
                    lambda: dispatch["dispatch_id"] not in http.dispatches(),
                    what="the dispatch removed"))
                assert mesh.errors == []
            finally:
                await mesh.close()
                await client.stop()
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(TIMEOUT)


def test_after_a_server_restart_the_provider_reconnects_and_the_dispatch_runs_again(tmp_path):
    """The server restarts (its store on disk): the provider reconnects with backoff, its
    old job is cancelled (unknown_job: jobs do not survive a restart) and the dispatch,
    which does, is offered again and runs on a new job."""
    db = str(tmp_path / "lobbykit.db")
    with server_process(*SERVER_FLAGS, db=db) as port:
        url = f"ws://127.0.0.1:{port}/ws"
        provider = ProviderProcess(url)
        try:
            provider.wait_line(r"^registered p")
            ada = lobbykit.Client(url, name="Ada")
            log = EventLog()
            ada.subscribe(log)
            ada.start()
            try:
                ada.wait_connected(timeout=TIMEOUT)
                wait_until(lambda: ada.snapshot().name == "Ada", what="Ada's name")
                lobby_id = ada.create_lobby("Kept", persistent=True)["lobby"]["id"]
                ada.join_lobby(lobby_id)
                Http(port).add_bot(lobby_id, "greeter", "greeter")
                old_job = provider.wait_line(r"^job (\S+) started").group(1)
                log.wait_for(is_chat("hello from greeter (attempt 1)"), what="the bot's hello")
            finally:
                ada.stop()
        except BaseException:
            provider.stop()
            raise
    try:
        with server_process(*SERVER_FLAGS, db=db, port=port):
            found = {}
            deadline = time.monotonic() + 3 * TIMEOUT
            while len(found) < 2:
                m = provider.wait_line(r"^job (\S+) (started|cancelled)",
                                       timeout=max(deadline - time.monotonic(), 0))
                if m.group(1) == old_job and m.group(2) == "cancelled":
                    found["cancelled"] = m.string
                elif m.group(1) != old_job and m.group(2) == "started":
                    found["started"] = m.group(1)
            assert found["cancelled"] == f"job {old_job} cancelled unknown_job", provider.seen
            provider.stop()  # while its server runs: it drains and exits
            assert provider.proc.returncode == 0, provider.seen
    finally:
        provider.stop()


def test_sigterm_while_the_server_is_gone_still_exits():
    """A provider whose server vanished drains and stops in bounded time: the job_end it
    cannot deliver does not hold up its exit."""
    with server_process(*SERVER_FLAGS) as port:
        url = f"ws://127.0.0.1:{port}/ws"
        provider = ProviderProcess(url, "--drain-timeout", "1")
        try:
            provider.wait_line(r"^registered p")
            ada = lobbykit.Client(url, name="Ada")
            ada.start()
            try:
                ada.wait_connected(timeout=TIMEOUT)
                wait_until(lambda: ada.snapshot().name == "Ada", what="Ada's name")
                lobby_id = ada.create_lobby("Gone")["lobby"]["id"]
                ada.join_lobby(lobby_id)
                Http(port).add_bot(lobby_id, "greeter", "greeter")
                provider.wait_line(r"^job \S+ started")
            finally:
                ada.stop()
        except BaseException:
            provider.stop()
            raise
    try:
        provider.proc.send_signal(signal.SIGTERM)
        # 1 s of drain, then at most one request timeout (10 s) for the job_end
        assert provider.proc.wait(1 + 10 + TIMEOUT) == 0, provider.seen
    finally:
        provider.stop()

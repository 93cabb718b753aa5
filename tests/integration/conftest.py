"""Fixtures and helpers for the lobbykit-server integration tests.

Every test drives the REAL server binary (``$LOBBYKIT_SERVER``, else a build in the repo)
over real sockets on 127.0.0.1.  Each server gets a free port (``--port 0``; the port is read
from the ``lobbykit-server listening on http://HOST:PORT`` line on stdout) and either a
temporary SQLite file or ``--memory``.

Expected values come from docs/protocol.md, never from the server under test.

Rules kept here: every wait has a deadline (asyncio.wait_for / select with a timeout); only
processes started by these fixtures are stopped, by PID (SIGINT, wait, then SIGKILL).
"""

from __future__ import annotations

import asyncio
import base64
import http.client as httpclient
import inspect
import json
import os
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import websockets

ROOT = Path(__file__).resolve().parents[2]
HOST = "127.0.0.1"

# Documented defaults (docs/protocol.md, "Limits" and "auth" -> welcome.limits).
DOC_LIMITS = {
    "max_message_bytes": 65536,
    "max_chat_bytes": 4096,
    "max_name_chars": 32,
    "max_lobby_name_chars": 64,
    "chat_history": 500,
    "resume_grace_ms": 60000,
}
PROTOCOL_VERSION = 1
ADMIN_TOKEN_FOR_TESTS = "hostile-admin-token-0123456789"

# Argon2 at its cheapest so password tests are fast (not a protocol value).
CHEAP_ARGON2 = ("--argon2-memory-kib", "8", "--argon2-iterations", "1")

START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 15.0
REPLY_TIMEOUT_S = 10.0
PUSH_TIMEOUT_S = 5.0


# --------------------------------------------------------------------------------------
# pytest plumbing: async tests without pytest-asyncio, file-descriptor headroom
# --------------------------------------------------------------------------------------

def pytest_configure(config):
    # 1,000-connection tests need headroom; servers inherit the limit from us.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192
    if soft != resource.RLIM_INFINITY and soft < want:
        new_soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))


_open_clients: list = []


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Runs ``async def`` tests in a fresh event loop; closes the clients they left open."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}

    async def runner():
        _open_clients.clear()
        try:
            await pyfuncitem.obj(**kwargs)
        finally:
            clients = list(_open_clients)
            _open_clients.clear()
            for c in clients:
                try:
                    await asyncio.wait_for(c.abort(), 2)
                except Exception:
                    pass

    asyncio.run(runner())
    return True


# --------------------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------------------

def server_binary() -> str:
    env = os.environ.get("LOBBYKIT_SERVER")
    if env:
        return env
    for cand in ("build/lobbykit-server", "build-it/lobbykit-server",
                 "build-transport/lobbykit-server"):
        p = ROOT / cand
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
    pytest.fail("no lobbykit-server binary: set LOBBYKIT_SERVER=<build>/lobbykit-server")


_LISTEN_RE = re.compile(rb"lobbykit-server listening on https?://(\[[^\]]+\]|[^:/\s]+):(\d+)")


class ServerProcess:
    """One lobbykit-server process. ``restart()`` starts a new process on the same db."""

    def __init__(self, workdir: Path, flags: tuple, db: Optional[Path], memory: bool,
                 admin_token: Optional[str], static_dir: Optional[Path], cheap_argon2: bool,
                 env: Optional[dict]):
        self.workdir = workdir
        self.flags = tuple(str(f) for f in flags)
        self.db = db
        self.memory = memory
        self.admin_token = admin_token
        self.static_dir = static_dir
        self.cheap_argon2 = cheap_argon2
        self.extra_env = env or {}
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.generation = 0
        self.log_path: Optional[Path] = None
        self.exit_codes: list = []   # (how it was stopped, returncode) per generation
        self._drain: Optional[threading.Thread] = None

    # -- lifecycle --------------------------------------------------------------------

    def args(self) -> list:
        a = [server_binary(), "--host", HOST, "--port", "0"]
        a += ["--memory"] if self.memory else ["--db", str(self.db)]
        if self.admin_token is not None:
            a += ["--admin-token", self.admin_token]
        a += ["--static", str(self.static_dir)] if self.static_dir else ["--no-static"]
        if self.cheap_argon2:
            a += list(CHEAP_ARGON2)
        a += list(self.flags)
        return a

    def start(self) -> "ServerProcess":
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.generation += 1
        self.log_path = self.workdir / f"server-{self.generation}.log"
        # Every flag can come from a LOBBYKIT_* variable (lobbykit-server --help): keep the
        # caller's environment from changing the server under test, except the event loop
        # (LOBBYKIT_EVENT_LOOP=poll runs the suite on the other loop).
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LOBBYKIT_") or k == "LOBBYKIT_EVENT_LOOP"}
        for k, v in self.extra_env.items():
            env[k] = (env.get(k, "") + ":" + v).lstrip(":") if k.endswith("_OPTIONS") else v
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(self.args(), stdout=subprocess.PIPE, stderr=log,
                                         stdin=subprocess.DEVNULL, cwd=str(self.workdir),
                                         env=env)
        finally:
            log.close()
        fd = self.proc.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self._kill_now()
                pytest.fail(f"server did not report its port within {START_TIMEOUT_S}s\n"
                            + self.log_tail())
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
                pytest.fail(f"server exited ({rc}) before listening: {self.args()}\n"
                            + self.log_tail())
            buf += chunk
        m = _LISTEN_RE.search(buf)
        if not m:
            self._kill_now()
            pytest.fail(f"unexpected first stdout line {buf!r}\n" + self.log_tail())
        self.port = int(m.group(2))
        # Keep draining stdout so the server can never block on a full pipe.
        out = self.proc.stdout
        self._drain = threading.Thread(target=lambda: [None for _ in iter(lambda: out.read(4096), b"")],
                                       daemon=True)
        self._drain.start()
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGINT) -> Optional[int]:
        """SIGINT (stop at once: every client closed with 1001, the store flushed; SIGTERM
        would drain over --drain-ms first), wait, then SIGKILL. Returns the exit status (None
        if never started)."""
        if self.proc is None:
            return None
        name = signal.Signals(sig).name
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT_S)
                self.exit_codes.append((name, self.proc.returncode))
            except subprocess.TimeoutExpired:
                self._kill_now()
                self.exit_codes.append((f"{name}-timeout-SIGKILL", self.proc.returncode))
        else:
            self.exit_codes.append(("died", self.proc.returncode))
        self._close_pipes()
        return self.proc.returncode

    def kill9(self) -> None:
        """SIGKILL now (a crash). The db stays as the kernel left it."""
        assert self.running(), "server is not running"
        self._kill_now()
        self.exit_codes.append(("SIGKILL", self.proc.returncode))
        self._close_pipes()

    def restart(self) -> "ServerProcess":
        if self.running():
            self.stop()
        return self.start()

    def _kill_now(self) -> None:
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass

    def _close_pipes(self) -> None:
        if self._drain is not None:
            self._drain.join(timeout=2)
        try:
            self.proc.stdout.close()
        except Exception:
            pass

    # -- inspection -------------------------------------------------------------------

    def log_tail(self, n: int = 40) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except Exception:
            return "(no server log)"
        return "--- server stderr (tail) ---\n" + "\n".join(lines[-n:])

    def vm_rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the server process has used so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # fields[0] is the state (field 3 of proc(5)); utime and stime are fields 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def is_asan(self) -> bool:
        """True when the running binary is built with AddressSanitizer."""
        try:
            with open(f"/proc/{self.pid}/maps") as f:
                return "libasan" in f.read()
        except OSError:
            return False

    @property
    def ws_url(self) -> str:
        return f"ws://{HOST}:{self.port}/ws"


class _Servers:
    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.servers: list = []

    def start(self, *flags, db: Optional[Path] = None, memory: bool = False,
              admin_token: Optional[str] = None, static_dir: Optional[Path] = None,
              cheap_argon2: bool = True, env: Optional[dict] = None) -> ServerProcess:
        n = len(self.servers) + 1
        d = self.workdir / f"srv{n}"
        d.mkdir(parents=True, exist_ok=True)
        if not memory and db is None:
            db = d / "lobbykit.db"
        s = ServerProcess(d, flags, db, memory, admin_token, static_dir, cheap_argon2, env)
        self.servers.append(s)
        return s.start()

    def teardown(self) -> list:
        """Stops every server; returns complaints (unclean exits) for the caller to raise."""
        problems = []
        for s in self.servers:
            was_running = s.running()
            rc = s.stop()
            how = s.exit_codes[-1][0] if s.exit_codes else "?"
            if was_running and rc != 0:
                problems.append(f"server pid {s.pid} exited with {rc} on {how}\n" + s.log_tail())
            elif not was_running and how == "died" and rc != 0:
                problems.append(f"server pid {s.pid} had died with {rc} during the test\n"
                                + s.log_tail())
        return problems


@pytest.fixture
def servers(tmp_path):
    """Factory: ``servers.start(*flags, db=..., memory=..., admin_token=..., static_dir=...)``."""
    pool = _Servers(tmp_path)
    yield pool
    problems = pool.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def server(servers):
    """A server with documented default limits, a temporary db, cheap Argon2."""
    return servers.start()


@pytest.fixture(scope="module")
def module_servers(tmp_path_factory):
    pool = _Servers(tmp_path_factory.mktemp("srv"))
    yield pool
    problems = pool.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# --------------------------------------------------------------------------------------
# WebSocket client over `websockets`
# --------------------------------------------------------------------------------------

class ProtocolError(AssertionError):
    pass


class Client:
    """One WebSocket connection. Replies are matched by id; pushes are kept by arrival."""

    def __init__(self, ws, label: str = ""):
        self.ws = ws
        self.label = label
        self.pending: dict = {}
        self.pushes: list = []      # unconsumed pushes (and replies nobody waited for)
        self.received: list = []    # everything, in order
        self.cond = asyncio.Condition()
        self.closed = False
        self.close_code: Optional[int] = None
        self.close_reason: str = ""
        self._next_id = 0
        self.peer_id: Optional[str] = None
        self.token: Optional[str] = None
        self.welcome: Optional[dict] = None
        self._reader = asyncio.ensure_future(self._read())
        _open_clients.append(self)

    @classmethod
    async def connect(cls, port: int, label: str = "", timeout: float = REPLY_TIMEOUT_S,
                      **kw) -> "Client":
        kw.setdefault("ping_interval", None)
        kw.setdefault("max_size", None)
        kw.setdefault("open_timeout", timeout)
        ws = await asyncio.wait_for(websockets.connect(f"ws://{HOST}:{port}/ws", **kw), timeout)
        return cls(ws, label)

    async def _read(self):
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    msg = {"type": "__binary__", "data": raw}
                else:
                    msg = json.loads(raw)
                self.received.append(msg)
                mid = msg.get("id") if isinstance(msg, dict) else None
                if mid is not None and mid in self.pending and \
                        msg.get("type") in ("result", "welcome", "error"):
                    fut = self.pending.pop(mid)
                    if not fut.done():
                        fut.set_result(msg)
                else:
                    self.pushes.append(msg)
                async with self.cond:
                    self.cond.notify_all()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            self.close_reason = self.ws.close_reason or ""
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(ProtocolError(
                        f"{self.label}: connection closed ({self.close_code}) before the reply"))
            self.pending.clear()
            async with self.cond:
                self.cond.notify_all()

    # -- sending ----------------------------------------------------------------------

    async def send_raw(self, payload) -> None:
        await self.ws.send(payload)

    async def send(self, type_: str, data: Any = None, id: Any = None) -> None:
        env: dict = {"type": type_}
        if id is not None:
            env["id"] = id
        if data is not None:
            env["data"] = data
        await self.ws.send(json.dumps(env))

    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    async def request(self, type_: str, data: Any = None, *, id: Any = None,
                      timeout: float = REPLY_TIMEOUT_S) -> dict:
        """Sends a request with an id and returns the whole reply envelope."""
        if id is None:
            id = self.new_id()
        fut = asyncio.get_running_loop().create_future()
        self.pending[id] = fut
        try:
            await self.send(type_, data, id)
        except BaseException:
            self.pending.pop(id, None)
            fut.cancel()
            raise
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(id, None)
            raise ProtocolError(f"{self.label}: no reply to {type_} (id {id}) in {timeout}s")

    async def raw_request(self, text: str, id: Any, timeout: float = REPLY_TIMEOUT_S) -> dict:
        """Sends raw text that carries `id`, waits for the reply with that id."""
        fut = asyncio.get_running_loop().create_future()
        self.pending[id] = fut
        try:
            await self.ws.send(text)
        except BaseException:
            self.pending.pop(id, None)
            fut.cancel()
            raise
        try:
            return await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            self.pending.pop(id, None)
            raise ProtocolError(f"{self.label}: no reply to raw request id {id} in {timeout}s")

    async def call(self, type_: str, data: Any = None, **kw) -> dict:
        """A request that must succeed: returns reply data."""
        msg = await self.request(type_, data, **kw)
        want = "welcome" if type_ == "auth" else "result"
        if msg.get("type") != want:
            raise ProtocolError(f"{self.label}: {type_} {data!r} -> {msg!r}, expected {want}")
        return msg.get("data") or {}

    async def fail(self, type_: str, data: Any = None, code: Optional[str] = None,
                   **kw) -> dict:
        """A request that must fail (with `code` if given): returns the error data."""
        msg = await self.request(type_, data, **kw)
        if msg.get("type") != "error":
            raise ProtocolError(f"{self.label}: {type_} {data!r} -> {msg!r}, expected an error"
                                f" {code or ''}")
        d = msg.get("data") or {}
        if code is not None and d.get("code") != code:
            raise ProtocolError(f"{self.label}: {type_} {data!r} -> error {d!r}, "
                                f"expected code {code!r}")
        assert isinstance(d.get("error"), str) and d["error"], f"error without sentence: {msg!r}"
        return d

    async def auth(self, token: Optional[str] = None, bot: Optional[bool] = None) -> dict:
        data: dict = {}
        if token is not None:
            data["token"] = token
        if bot is not None:
            data["bot"] = bot
        w = await self.call("auth", data)
        self.welcome = w
        self.peer_id = w["peer_id"]
        self.token = w["token"]
        return w

    async def ping(self, timeout: float = REPLY_TIMEOUT_S) -> dict:
        d = await self.call("ping", timeout=timeout)
        assert isinstance(d.get("time_ms"), int), d
        return d

    async def sync(self) -> None:
        """A ping round trip: everything the server queued for us before it is now in."""
        await self.ping()

    # -- pushes -----------------------------------------------------------------------

    async def wait_for(self, pred: Callable[[], Any], timeout: float, what: str):
        async def waiter():
            async with self.cond:
                while True:
                    v = pred()
                    if v:
                        return v
                    if self.closed:
                        v = pred()
                        if v:
                            return v
                        raise ProtocolError(
                            f"{self.label}: connection closed ({self.close_code}) while "
                            f"waiting for {what}; unconsumed pushes: {self._brief()}")
                    await self.cond.wait()
        try:
            return await asyncio.wait_for(waiter(), timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"{self.label}: no {what} within {timeout}s; "
                                f"unconsumed pushes: {self._brief()}") from None

    def _brief(self) -> str:
        return json.dumps(self.pushes[-12:], default=repr)[:1500]

    def _find(self, type_: str, pred):
        for i, m in enumerate(self.pushes):
            if isinstance(m, dict) and m.get("type") == type_ and \
                    (pred is None or pred(m.get("data") or {})):
                return i
        return None

    async def next_push(self, type_: str, pred: Optional[Callable[[dict], bool]] = None,
                        timeout: float = PUSH_TIMEOUT_S) -> dict:
        """Waits for (and consumes) the first push of `type_` matching `pred`: its data."""
        def found():
            i = self._find(type_, pred)
            return (i,) if i is not None else None
        (i,) = await self.wait_for(found, timeout, f"push {type_!r}")
        msg = self.pushes.pop(i)
        return msg.get("data") or {}

    def take(self, type_: str, pred: Optional[Callable[[dict], bool]] = None) -> list:
        """Consumes every push of `type_` received so far (matching `pred`): their data."""
        out, keep = [], []
        for m in self.pushes:
            if isinstance(m, dict) and m.get("type") == type_ and \
                    (pred is None or pred(m.get("data") or {})):
                out.append(m.get("data") or {})
            else:
                keep.append(m)
        self.pushes[:] = keep
        return out

    def has(self, type_: str) -> list:
        return [m.get("data") or {} for m in self.pushes if m.get("type") == type_]

    def clear(self) -> None:
        self.pushes.clear()

    async def wait_closed(self, timeout: float = PUSH_TIMEOUT_S) -> Optional[int]:
        await self.wait_for(lambda: self.closed, timeout, "close")
        return self.close_code

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.ws.close(), 5)
        except Exception:
            pass
        try:
            await asyncio.wait_for(self._reader, 5)
        except Exception:
            pass

    async def abort(self) -> None:
        """Drops the TCP connection without a closing handshake."""
        try:
            self.ws.transport.abort()
        except Exception:
            pass
        self._reader.cancel()
        try:
            await asyncio.wait_for(self._reader, 2)
        except BaseException:
            pass


async def connect(port: int, label: str = "") -> Client:
    return await Client.connect(port, label)


async def authed(port: int, name: Optional[str] = None, password: Optional[str] = None,
                 label: str = "", bot: Optional[bool] = None) -> Client:
    c = await Client.connect(port, label or (name or "anon"))
    await c.auth(bot=bot)
    if name is not None:
        data = {"name": name}
        if password is not None:
            data["password"] = password
        await c.call("set_name", data)
        await c.next_push("name_changed")
    return c


async def resume(port: int, token: str, label: str = "") -> Client:
    c = await Client.connect(port, label or "resumed")
    await c.auth(token=token)
    return c


async def make_lobby(c: Client, name: str, **fields) -> dict:
    d = await c.call("create_lobby", {"name": name, **fields})
    return d["lobby"]


async def assert_idle(server: "ServerProcess", timeout: float = 10.0,
                      window: float = 0.5, max_share: float = 0.2) -> None:
    """The server's CPU goes back to idle: within `timeout`, some `window` in which it used
    less than `max_share` of one core. A loop that spins (100 %) never passes."""
    deadline = time.monotonic() + timeout
    shares = []
    while time.monotonic() < deadline:
        c0, t0 = server.cpu_seconds(), time.monotonic()
        await asyncio.sleep(window)
        share = (server.cpu_seconds() - c0) / (time.monotonic() - t0)
        if share < max_share:
            return
        shares.append(round(share, 2))
    raise AssertionError(f"server CPU not idle within {timeout}s: shares of a core {shares}")


async def assert_healthy(c: Client) -> None:
    """A separate, already-connected client still gets a reply to ping."""
    assert not c.closed, f"healthy client was closed ({c.close_code})"
    d = await c.ping()
    assert abs(d["time_ms"] - time.time() * 1000) < 60_000


# --------------------------------------------------------------------------------------
# Raw WebSocket: hand-built frames (invalid UTF-8, fragments, binary, slow readers)
# --------------------------------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


def ws_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    mbit = 0x80 if mask else 0
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([mbit | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


class RawWs:
    """A WebSocket client built from a plain socket, for frames `websockets` won't send."""

    def __init__(self, sock: socket.socket, reader, writer, leftover: bytes):
        self.sock = sock
        self.reader = reader
        self.writer = writer
        self.buf = leftover

    @classmethod
    async def connect(cls, port: int, path: str = "/ws", timeout: float = REPLY_TIMEOUT_S,
                      rcvbuf: Optional[int] = None) -> "RawWs":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), timeout)
        reader, writer = await asyncio.open_connection(sock=sock)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write((f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status = head.split(b"\r\n", 1)[0]
        if b" 101 " not in status + b" ":
            writer.close()
            raise ProtocolError(f"WebSocket handshake refused: {status!r}")
        return cls(sock, reader, writer, b"")

    async def send_frame(self, opcode: int, payload: bytes, fin: bool = True) -> None:
        self.writer.write(ws_frame(opcode, payload, fin))
        await self.writer.drain()

    async def send_bytes(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def send_text(self, text: str) -> None:
        await self.send_frame(OP_TEXT, text.encode())

    async def send_json(self, obj) -> None:
        await self.send_text(json.dumps(obj))

    async def _read_exact(self, n: int) -> bytes:
        return await self.reader.readexactly(n)

    async def recv_frame(self, timeout: float = PUSH_TIMEOUT_S):
        """(fin, opcode, payload); raises EOFError when the connection ends."""
        async def one():
            try:
                b0, b1 = await self._read_exact(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", await self._read_exact(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", await self._read_exact(8))[0]
                key = await self._read_exact(4) if b1 & 0x80 else None
                payload = await self._read_exact(n)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                raise EOFError(str(e)) from None
            if key:
                payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
            return bool(b0 & 0x80), b0 & 0x0F, payload
        return await asyncio.wait_for(one(), timeout)

    async def recv_json(self, timeout: float = PUSH_TIMEOUT_S) -> dict:
        """The next complete text message (answering pings), parsed."""
        deadline = time.monotonic() + timeout
        parts = b""
        while True:
            fin, op, payload = await self.recv_frame(max(0.01, deadline - time.monotonic()))
            if op == OP_PING:
                await self.send_frame(OP_PONG, payload)
                continue
            if op == OP_CLOSE:
                raise ProtocolError(f"closed: {close_code_of(payload)}")
            parts += payload
            if fin:
                return json.loads(parts.decode())

    async def request(self, obj: dict, timeout: float = REPLY_TIMEOUT_S) -> dict:
        """Sends obj (which carries an id) and returns the reply with that id."""
        await self.send_json(obj)
        deadline = time.monotonic() + timeout
        while True:
            m = await self.recv_json(max(0.01, deadline - time.monotonic()))
            if m.get("id") == obj.get("id"):
                return m

    async def recv_close(self, timeout: float = PUSH_TIMEOUT_S):
        """Reads until the close frame: its code (None if the TCP connection just ended)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError(f"no close within {timeout}s")
            try:
                fin, op, payload = await self.recv_frame(left)
            except EOFError:
                return None
            except asyncio.TimeoutError:
                raise ProtocolError(f"no close within {timeout}s") from None
            if op == OP_CLOSE:
                return close_code_of(payload)

    def abort(self) -> None:
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.writer.transport.abort()
        except Exception:
            pass

    async def close(self) -> None:
        try:
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except Exception:
            pass


def close_code_of(payload: bytes) -> Optional[int]:
    return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None


class Burst:
    """What a blocking raw exchange saw: text messages, the close code, how it ended."""

    def __init__(self, messages: list, close_code: Optional[int], ended: str, raw: bytes):
        self.messages = messages      # parsed JSON text messages, in order
        self.close_code = close_code  # from the first close frame, None if there was none
        self.ended = ended            # "eof", "reset" or "timeout"
        self.raw = raw

    def __repr__(self):
        return (f"<Burst close={self.close_code} ended={self.ended} "
                f"messages={len(self.messages)} bytes={len(self.raw)}>")


def parse_server_frames(data: bytes):
    """Unmasked server frames -> [(fin, opcode, payload)] (a cut-off tail is ignored)."""
    out, i = [], 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n, j = b1 & 0x7F, i + 2
        if n == 126:
            if j + 2 > len(data):
                break
            n, j = struct.unpack("!H", data[j:j + 2])[0], j + 2
        elif n == 127:
            if j + 8 > len(data):
                break
            n, j = struct.unpack("!Q", data[j:j + 8])[0], j + 8
        if b1 & 0x80:
            j += 4
        if j + n > len(data):
            break
        out.append((bool(b0 & 0x80), b0 & 0x0F, data[j:j + n]))
        i = j + n
    return out


def ws_burst(port: int, payload: bytes, *, auth_first: bool = True,
             timeout: float = 5.0, stop_when: Optional[Callable[[list], bool]] = None) -> Burst:
    """Blocking, for use with asyncio.to_thread: handshake; optionally auth and wait for
    the welcome; write `payload` (hand-built frames) in one go, ignoring write errors (the
    server may hang up half-way); then read everything until the server ends the
    connection, `stop_when(messages so far)` is true, or `timeout` passes. Nothing the
    server sent is lost to a failed write."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    deadline = time.monotonic() + timeout
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /ws HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
                   f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                   f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                raise ProtocolError("connection closed during the handshake")
            buf += chunk
        head, _, data = buf.partition(b"\r\n\r\n")
        if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
            raise ProtocolError(f"handshake refused: {head[:100]!r}")
        if auth_first:
            s.sendall(ws_frame(OP_TEXT, b'{"type":"auth","id":"burst-auth"}'))
            while b"burst-auth" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    raise ProtocolError("connection closed before the welcome")
                data += chunk
        try:
            s.sendall(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass
        ended = "timeout"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                ended = "reset"
                break
            if not chunk:
                ended = "eof"
                break
            data += chunk
            if stop_when is not None and stop_when(_burst_parse(data)[0]):
                ended = "stopped"
                break
    finally:
        s.close()
    messages, code = _burst_parse(data)
    return Burst(messages, code, ended, data)


def _burst_parse(data: bytes):
    messages, code = [], None
    for fin, op, p in parse_server_frames(data):
        if op == OP_TEXT:
            messages.append(json.loads(p.decode()))
        elif op == OP_CLOSE and code is None:
            code = close_code_of(p)
    return messages, code


# --------------------------------------------------------------------------------------
# HTTP (http.client and raw sockets: no client-side path normalisation)
# --------------------------------------------------------------------------------------

class HttpReply:
    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode())

    def __repr__(self):
        return f"<HTTP {self.status} {self.body[:300]!r}>"


def http(port: int, method: str, path: str, body=None, headers: Optional[dict] = None,
         timeout: float = REPLY_TIMEOUT_S) -> HttpReply:
    conn = httpclient.HTTPConnection(HOST, port, timeout=timeout)
    try:
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        data = r.read()
        return HttpReply(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        conn.close()


async def ahttp(*args, **kw) -> HttpReply:
    return await asyncio.to_thread(http, *args, **kw)


class RawResponse(bytes):
    """What a raw HTTP exchange read; `.eof` tells whether the server closed the connection
    (False: we stopped reading, after a complete response or at the deadline)."""
    eof: bool = False
    timed_out: bool = False


def raw_http(port: int, request: bytes, timeout: float = REPLY_TIMEOUT_S) -> RawResponse:
    """Writes `request` as-is and returns everything read until the server closes, a complete
    response (with Content-Length) is in, or `timeout` passes."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    out = b""
    eof = timed_out = False
    try:
        try:
            s.sendall(request)
        except (BrokenPipeError, ConnectionResetError):
            pass
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            s.settimeout(left)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                timed_out = True
                break
            except ConnectionResetError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            out += chunk
            head, sep, rest = out.partition(b"\r\n\r\n")
            if sep:
                m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    r = RawResponse(out)
    r.eof, r.timed_out = eof, timed_out
    return r


def raw_status(resp: bytes) -> Optional[int]:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", resp)
    return int(m.group(1)) if m else None


# --------------------------------------------------------------------------------------
# Prometheus text
# --------------------------------------------------------------------------------------

_SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)(\s+\d+)?$')


def parse_metrics(text: str):
    """-> (types {family: type}, samples {(name, frozenset(labels)): value})."""
    types, samples = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 4 and parts[1] == "TYPE":
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE_RE.match(line)
        assert m, f"not a Prometheus sample line: {line!r}"
        labels = {}
        if m.group(3):
            for kv in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(3)):
                labels[kv[0]] = kv[1]
        samples[(m.group(1), frozenset(labels.items()))] = float(m.group(4))
    return types, samples


class Metrics:
    """Finds families by meaning (docs/protocol.md names what is measured, not the names)."""

    def __init__(self, text: str):
        self.text = text
        self.types, self.samples = parse_metrics(text)

    def family(self, type_: str, pattern: str) -> str:
        names = [n for n, t in self.types.items() if t == type_ and re.search(pattern, n)]
        assert len(names) == 1, f"want one {type_} family matching {pattern!r}, got {names}\n" \
                                + self.text[:2000]
        return names[0]

    def value(self, name: str, **labels) -> float:
        key = (name, frozenset(labels.items()))
        if key in self.samples:
            return self.samples[key]
        if name + "_total" != name and (name + "_total", key[1]) in self.samples:
            return self.samples[(name + "_total", key[1])]
        return 0.0  # a labelled counter not yet seen is 0

    def connections(self) -> float:
        return self.value(self.family("gauge", r"(^|_)connections(_open)?$"))

    def messages_in(self, type_: str) -> float:
        return self.value(self.family("counter", r"messages_(received|in)"), type=type_)

    def messages_out(self, type_: str) -> float:
        return self.value(self.family("counter", r"messages_(sent|out)"), type=type_)

    def errors(self, code: str) -> float:
        return self.value(self.family("counter", r"errors"), code=code)

    def closes(self, code: int) -> float:
        return self.value(self.family("counter", r"closes"), code=str(code))

    def backlogged(self) -> float:
        """Connections the server does not read until they read what is queued for them."""
        return self.value(self.family("gauge", r"backlog"))


async def metrics(port: int) -> Metrics:
    r = await ahttp(port, "GET", "/api/metrics")
    assert r.status == 200, r
    return Metrics(r.body.decode())


async def until(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.05):
    """Polls an async or sync predicate until it is truthy or the deadline passes."""
    async def loop():
        while True:
            v = pred()
            if inspect.isawaitable(v):
                v = await v
            if v:
                return v
            await asyncio.sleep(interval)
    try:
        return await asyncio.wait_for(loop(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what}: not within {timeout}s") from None


def now_ms() -> int:
    return int(time.time() * 1000)

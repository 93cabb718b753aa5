"""Access tokens and roles over real sockets (docs/protocol.md, "Access tokens", "Roles").

Tokens are minted by the CLI, ``lobbykit-server token``, as a host's scripts would; hostile
ones (another secret, ``alg: none``) are built by hand here with hmac/base64 from the
standard library, so the server is not checked against its own mint alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import subprocess
import time

import pytest

from conftest import authed, connect, make_lobby, server_binary

SECRET = "integration-secret-" + "0123456789abcdef" * 2


@pytest.fixture
def secret_file(tmp_path):
    path = tmp_path / "token-secret"
    path.write_text(SECRET + "\n")
    return path


def mint(secret_file, user, *flags, env_secret=None) -> str:
    """A token from `lobbykit-server token` (the secret from the file, or the environment)."""
    args = [server_binary(), "token", "--user", user, *flags]
    env = dict(os.environ)
    env.pop("LOBBYKIT_TOKEN_SECRET", None)
    if env_secret is not None:
        env["LOBBYKIT_TOKEN_SECRET"] = env_secret
    else:
        args += ["--secret-file", str(secret_file)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=30, env=env)
    assert out.returncode == 0, out.stderr
    token = out.stdout.strip()
    assert token.count(".") == 2, token
    return token


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def hand_token(header: dict, claims: dict, secret: str = SECRET) -> str:
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64url(sig)


def token_server(servers, secret_file, *flags):
    return servers.start("--token-secret-file", str(secret_file), *flags)


async def token_client(port, token, label=""):
    c = await connect(port, label)
    w = await c.call("auth", {"access_token": token})
    c.welcome, c.peer_id, c.token = w, w["peer_id"], w["token"]
    return c


async def test_a_minted_token_gives_the_session_its_user(servers, secret_file):
    srv = token_server(servers, secret_file)
    token = mint(secret_file, "user-42", "--name", "Ada", "--role", "moderator",
                 "--role", "team-7", "--metadata", '{"plan": "pro"}', "--ttl", "600")
    a = await token_client(srv.port, token, "a")
    assert a.welcome["user_id"] == "user-42"
    assert a.welcome["roles"] == ["moderator", "team-7"]
    assert a.welcome["name"] == "Ada"
    assert a.welcome["resumed"] is False

    b = await authed(srv.port, "Bob", label="b")
    lobby = await make_lobby(b, "Room")
    await b.call("join_lobby", {"lobby_id": lobby["id"]})
    snap = await a.call("join_lobby", {"lobby_id": lobby["id"]})
    me = [p for p in snap["participants"] if p["peer_id"] == a.peer_id][0]
    assert me["user_id"] == "user-42" and me["roles"] == ["moderator", "team-7"]
    other = [p for p in snap["participants"] if p["peer_id"] == b.peer_id][0]
    assert other["user_id"] == "" and other["roles"] == []
    joined = await b.next_push("participant_joined")
    assert joined["participant"]["user_id"] == "user-42"

    # The secret from the environment mints tokens the server accepts too.
    c = await token_client(srv.port, mint(secret_file, "user-7", env_secret=SECRET), "c")
    assert c.welcome["user_id"] == "user-7"


async def test_hostile_tokens_are_refused(servers, secret_file):
    srv = token_server(servers, secret_file)
    now = int(time.time())
    c = await connect(srv.port, "hostile")
    forged = hand_token({"alg": "HS256", "typ": "JWT"}, {"sub": "admin", "exp": now + 600},
                        secret="another-secret-that-is-long-enough-000")
    d = await c.fail("auth", {"access_token": forged}, code="invalid_access_token")
    assert "signature" in d["error"]

    unsigned = (b64url(b'{"alg":"none","typ":"JWT"}') + "." +
                b64url(json.dumps({"sub": "admin", "exp": now + 600}).encode()) + ".")
    d = await c.fail("auth", {"access_token": unsigned}, code="invalid_access_token")
    assert "none" in d["error"]

    hs512 = hand_token({"alg": "HS512"}, {"sub": "admin", "exp": now + 600})
    await c.fail("auth", {"access_token": hs512}, code="invalid_access_token")

    expired = hand_token({"alg": "HS256"}, {"sub": "u1", "exp": now - 120})
    await c.fail("auth", {"access_token": expired}, code="access_token_expired")

    await c.fail("auth", {"access_token": "x" * 9000}, code="invalid_access_token")
    # Still unauthenticated, and still allowed to try again.
    await c.fail("ping", code="not_authenticated")
    w = await c.call("auth", {"access_token": mint(secret_file, "u1")})
    assert w["user_id"] == "u1"


async def test_a_server_without_a_secret_refuses_access_tokens(server, secret_file):
    c = await connect(server.port)
    d = await c.fail("auth", {"access_token": mint(secret_file, "u1")},
                     code="invalid_access_token")
    assert "does not accept access tokens" in d["error"]


async def test_require_token(servers, secret_file):
    srv = token_server(servers, secret_file, "--require-token")
    c = await connect(srv.port)
    await c.fail("auth", {}, code="access_token_required")
    a = await token_client(srv.port, mint(secret_file, "u1", "--name", "Ada"))
    # A resume needs no access token.
    await a.close()
    again = await connect(srv.port)
    w = await again.call("auth", {"token": a.token})
    assert w["resumed"] is True and w["user_id"] == "u1"


async def test_a_token_for_another_lobby_is_forbidden_there(servers, secret_file):
    srv = token_server(servers, secret_file)
    owner = await authed(srv.port, "Owner")
    allowed = await make_lobby(owner, "Allowed")
    other = await make_lobby(owner, "Other")
    g = await token_client(srv.port, mint(secret_file, "guest", "--name", "Guest",
                                          "--lobby", allowed["id"]))
    await g.fail("join_lobby", {"lobby_id": other["id"]}, code="forbidden")
    await g.fail("create_lobby", {"name": "Mine"}, code="forbidden")
    snap = await g.call("join_lobby", {"lobby_id": allowed["id"]})
    assert snap["lobby"]["id"] == allowed["id"]


async def test_a_moderator_kicks_and_mutes(servers, secret_file):
    srv = token_server(servers, secret_file)
    mod = await token_client(srv.port, mint(secret_file, "m1", "--name", "Mod",
                                            "--role", "moderator"), "mod")
    lobby = await make_lobby(mod, "Room")
    await mod.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    t = await authed(srv.port, "Target", label="target")
    await t.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True})
    u = await authed(srv.port, "User", label="user")
    await u.call("join_lobby", {"lobby_id": lobby["id"]})

    # A member without the role may not.
    await u.fail("mute_member", {"peer_id": t.peer_id, "audio": True}, code="forbidden")

    r = await mod.call("mute_member", {"peer_id": t.peer_id, "audio": True, "video": True})
    assert r["participant"]["audio_muted"] is True and r["participant"]["video_muted"] is True
    muted = await t.next_push("muted")
    assert muted == {"lobby_id": lobby["id"], "by": mod.peer_id, "by_name": "Mod",
                             "audio": True, "video": True}
    upd = await u.next_push("participant_updated",
                            lambda d: d["participant"]["peer_id"] == t.peer_id)
    assert upd["participant"]["audio_muted"] is True
    # The muted member may unmute itself.
    r = await t.call("update_media", {"audio_muted": False})
    assert r["participant"]["audio_muted"] is False

    await mod.call("kick_member", {"peer_id": t.peer_id, "reason": "off topic"})
    kicked = await t.next_push("kicked")
    assert kicked["by"] == mod.peer_id and kicked["reason"] == "off topic"
    left = await t.next_push("lobby_left")
    assert left["reason"] == "kicked"
    gone = await u.next_push("participant_left", lambda d: d["peer_id"] == t.peer_id)
    assert gone["reason"] == "kicked"
    # Out of the lobby, not off the server.
    await t.fail("chat", {"text": "hi"}, code="not_in_lobby")
    await t.ping()


async def test_a_listener_cannot_unmute(servers, secret_file):
    srv = token_server(servers, secret_file)
    owner = await authed(srv.port, "Owner")
    lobby = await make_lobby(owner, "Talk")
    ear = await token_client(srv.port, mint(secret_file, "l1", "--name", "Ear",
                                            "--role", "listener"))
    snap = await ear.call("join_lobby", {"lobby_id": lobby["id"], "has_media": True,
                                         "audio_muted": False, "video_muted": False})
    me = [p for p in snap["participants"] if p["peer_id"] == ear.peer_id][0]
    assert me["has_media"] is True and me["audio_muted"] is True and me["video_muted"] is True
    await ear.fail("update_media", {"audio_muted": False}, code="forbidden")
    await ear.fail("update_media", {"video_muted": False}, code="forbidden")


def test_the_token_cli_refuses_bad_input(secret_file):
    def run(*args):
        env = dict(os.environ)
        env.pop("LOBBYKIT_TOKEN_SECRET", None)
        return subprocess.run([server_binary(), "token", *args], capture_output=True,
                              text=True, timeout=30, env=env)
    assert run("--user", "u1").returncode == 2  # no secret
    assert run("--secret-file", str(secret_file)).returncode == 2  # no user
    bad_role = run("--secret-file", str(secret_file), "--user", "u1", "--role", "Boss")
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    bad_meta = run("--secret-file", str(secret_file), "--user", "u1", "--metadata", "[1]")
    assert bad_meta.returncode == 2 and bad_meta.stdout == ""


def test_a_short_secret_does_not_start(tmp_path):
    short = tmp_path / "short"
    short.write_text("too short\n")
    out = subprocess.run([server_binary(), "--memory", "--port", "0", "--token-secret-file",
                          str(short)], capture_output=True, text=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 1
    assert "at least 32" in out.stderr

"""Access tokens from Python: lobbykit.mint_access_token, ServerOptions.token_secret and
require_token, ClientOptions.access_token, and the user id and roles a session gets."""

import base64
import json

import pytest

import lobbykit
from conftest import TIMEOUT

SECRET = "python-test-secret-0123456789abcdef"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_mint_access_token_writes_the_claims():
    token = lobbykit.mint_access_token(SECRET, "user-42", name="Ada", roles=("moderator",),
                                       metadata={"plan": "pro"}, lobby="abc", ttl=120)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header == {"alg": "HS256", "typ": "JWT"}
    c = claims_of(token)
    assert c["sub"] == "user-42" and c["name"] == "Ada" and c["roles"] == ["moderator"]
    assert c["metadata"] == {"plan": "pro"} and c["lobby"] == "abc"
    assert c["exp"] - c["iat"] == 120


@pytest.mark.parametrize("kwargs", [
    {"secret": "short", "user_id": "u"},
    {"secret": SECRET, "user_id": ""},
    {"secret": SECRET, "user_id": "u", "roles": ["Boss"]},
    {"secret": SECRET, "user_id": "u", "ttl": 0},
])
def test_mint_access_token_refuses_what_a_server_would(kwargs):
    with pytest.raises(ValueError):
        lobbykit.mint_access_token(**kwargs)


def test_roles_must_not_be_a_string():
    with pytest.raises(TypeError):
        lobbykit.mint_access_token(SECRET, "u", roles="moderator")


def test_a_short_token_secret_does_not_start():
    with pytest.raises(lobbykit.StartError, match="at least 32"):
        lobbykit.Server(port=0, store_path="", token_secret="too short")


def test_a_client_with_an_access_token_gets_its_user():
    token = lobbykit.mint_access_token(SECRET, "user-42", name="Ada", roles=["moderator"])
    options = lobbykit.ServerOptions(port=0, store_path="", token_secret=SECRET,
                                     require_token=True)
    assert options.token_secret == SECRET and options.require_token is True
    with lobbykit.Server(options) as server:
        with lobbykit.Client(server, access_token=token) as ada:
            ada.start()
            ada.wait_ready(timeout=TIMEOUT)
            assert ada.snapshot().name == "Ada"
            lobby = ada.create_lobby("Room")["lobby"]
            snap = ada.join_lobby(lobby["id"])
            me = snap["participants"][0]
            assert me["user_id"] == "user-42" and me["roles"] == ["moderator"]
            assert ada.snapshot().participants[0].user_id == "user-42"
            assert ada.snapshot().participants[0].roles == ("moderator",)
        # Without a token this server refuses a new session.
        with lobbykit.Client(server) as anon:
            anon.start()
            with pytest.raises(lobbykit.RequestError) as info:
                anon.wait_ready(timeout=TIMEOUT)
            assert info.value.code == "access_token_required"

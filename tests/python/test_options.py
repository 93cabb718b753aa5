"""Limits, ServerOptions, ReconnectPolicy, ClientOptions: every C++ field is bound, with the
C++ default, and the keyword/override forms behave."""

import copy
import re

import pytest

import lobbykit
from conftest import ROOT


def cxx_fields(header: str, struct: str) -> list:
    """Field names of `struct` in a public header, in order."""
    text = (ROOT / "include" / "lobbykit" / header).read_text()
    body = re.search(r"struct %s \{(.*?)\n\};" % struct, text, re.S).group(1)
    names = []
    for line in body.splitlines():
        line = re.sub(r"(^|\s)//.*$", "", line).strip()  # a comment, not "ws://"
        m = re.match(r"[\w:<>]+\s+(\w+)\s*(=.*)?;$", line)
        if m:
            names.append(m.group(1))
    return names


@pytest.mark.parametrize("cls,header,struct", [
    (lobbykit.Limits, "options.hpp", "Limits"),
    (lobbykit.ServerOptions, "options.hpp", "ServerOptions"),
    (lobbykit.ReconnectPolicy, "client.hpp", "ReconnectPolicy"),
    (lobbykit.ClientOptions, "client.hpp", "ClientOptions"),
])
def test_every_cxx_field_is_bound(cls, header, struct):
    names = cxx_fields(header, struct)
    assert len(names) >= 4, f"could not read {struct} from {header}"
    assert list(cls._fields) == names
    obj = cls()
    for name in names:
        getattr(obj, name)


def test_defaults_are_the_documented_ones():
    # docs/protocol.md, "Limits" and welcome.limits; docs/client.md for the client.
    limits = lobbykit.Limits()
    assert limits.max_message_bytes == 65536
    assert limits.max_chat_bytes == 4096
    assert limits.max_name_chars == 32
    assert limits.max_lobby_name_chars == 64
    assert limits.rate_per_second == 100.0 and limits.rate_burst == 200.0
    assert limits.chat_history == 500
    assert limits.resume_grace_ms == 60000
    assert limits.max_participants == 64
    assert limits.max_lobbies == 10000
    assert limits.session_ttl_ms == 24 * 3600 * 1000  # 64-bit field, past 2**31
    # The abuse limits.
    assert limits.rate_flood_burst == 200.0
    assert limits.idle_session_ttl_ms == 5 * 60 * 1000
    assert limits.max_sessions == 100000 and limits.max_sessions_per_address == 64
    assert limits.max_lobbies_per_session == 10 and limits.max_lobbies_per_address == 50
    options = lobbykit.ServerOptions()
    assert options.limits == limits
    assert lobbykit.ClientOptions().reconnect == lobbykit.ReconnectPolicy()
    assert lobbykit.ReconnectPolicy().enabled is True


def test_keywords_repr_eq_copy():
    limits = lobbykit.Limits(chat_history=7, rate_per_second=2.5)
    assert (limits.chat_history, limits.rate_per_second) == (7, 2.5)
    assert "chat_history=7" in repr(limits) and repr(limits).startswith("Limits(")
    assert limits != lobbykit.Limits() and limits == lobbykit.Limits(chat_history=7,
                                                                     rate_per_second=2.5)
    options = lobbykit.ServerOptions(port=0, limits=limits)
    twin = copy.copy(options)
    twin.limits.chat_history = 9   # nested fields are values: the copy is independent
    assert options.limits.chat_history == 7 and twin.limits.chat_history == 9
    options.limits.max_lobbies = 3  # and writable in place
    assert options.limits.max_lobbies == 3
    with pytest.raises(TypeError, match="no_such_field"):
        lobbykit.Limits(no_such_field=1)
    with pytest.raises(TypeError):
        lobbykit.ServerOptions(port="eighty")
    with pytest.raises(TypeError):
        lobbykit.ServerOptions(port=70000)  # not a uint16


def test_server_and_client_take_options_and_overrides(make_server):
    base = lobbykit.ServerOptions(store_path="", port=0)
    server = make_server(start=False, **{"port": 0})
    assert server.options.store_path == ""
    with pytest.raises(TypeError, match="colour"):
        lobbykit.Server(base, colour="blue")
    with pytest.raises(TypeError):
        lobbykit.Server(options="not options")
    client = lobbykit.Client("ws://127.0.0.1:1/ws", lobbykit.ClientOptions(name="Ada"),
                             request_timeout_ms=5)
    assert (client.options.name, client.options.request_timeout_ms) == ("Ada", 5)
    assert client.options.url == "ws://127.0.0.1:1/ws"
    with pytest.raises(TypeError):
        lobbykit.Client(12345)
    with pytest.raises(ValueError):
        lobbykit.Client("http://127.0.0.1:1/")   # not ws:// or wss://

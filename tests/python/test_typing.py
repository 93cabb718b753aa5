"""Types: every public name has a typed home (the _lobbykit.pyi stub for the compiled
module, annotations in the Python modules), the stub matches the compiled classes, the
event classes cover every C++ event kind, and mypy accepts a typical program when it is
installed."""

import ast
import dataclasses
import importlib.util
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lobbykit
from lobbykit import _lobbykit, bots, events, server_events
from conftest import ROOT, subprocess_env

PACKAGE = Path(lobbykit.__file__).resolve().parent
STUB = PACKAGE / "_lobbykit.pyi"


def stub_tree():
    return ast.parse(STUB.read_text())


def stub_classes():
    return {node.name: node for node in stub_tree().body if isinstance(node, ast.ClassDef)}


def stub_names():
    names = set(stub_classes())
    for node in stub_tree().body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def test_package_ships_the_typing_files():
    assert (PACKAGE / "py.typed").is_file()
    assert STUB.is_file()


def test_every_public_name_is_typed():
    compiled = stub_names()
    for name in lobbykit.__all__:
        obj = getattr(lobbykit, name)
        module = getattr(obj, "__module__", None)
        if inspect.ismodule(obj):
            assert (Path(obj.__file__).suffix == ".py"), name
        elif name == "__version__" or obj is getattr(_lobbykit, name, None):
            assert name in compiled, f"{name} is compiled but missing from _lobbykit.pyi"
        elif module is None:   # a constant: assigned at the top of one of the .py modules
            assert any(re.search(r"^%s\b.*=" % name, f.read_text(), re.M)
                       for f in PACKAGE.glob("*.py")), name
        else:
            assert module.startswith("lobbykit."), (name, module)
            if inspect.isclass(obj) and not dataclasses.is_dataclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) and not attr.startswith("_"):
                        hints = member.__annotations__
                        assert "return" in hints, f"{name}.{attr} has no return annotation"


def test_stub_matches_the_compiled_classes():
    classes = stub_classes()
    for name in ("Limits", "ServerOptions", "ReconnectPolicy", "ClientOptions", "Server",
                 "Client", "BotProvider"):
        runtime = getattr(_lobbykit, name)
        public = {a for a in dir(runtime) if not a.startswith("__")}
        stubbed = set()
        for node in classes[name].body:
            if isinstance(node, ast.FunctionDef):
                stubbed.add(node.name)
            elif isinstance(node, ast.AnnAssign):
                stubbed.add(node.target.id)
        assert public - stubbed == set(), f"{name}: not in the stub: {public - stubbed}"
        assert stubbed - public - {"__init__", "__copy__", "__deepcopy__"} == set(), \
            f"{name}: stubbed but not compiled: {stubbed - public}"
    for name in ("Limits", "ServerOptions", "ReconnectPolicy", "ClientOptions"):
        fields = [n.target.id for n in classes[name].body
                  if isinstance(n, ast.AnnAssign) and n.target.id != "_fields"]
        assert fields == list(getattr(_lobbykit, name)._fields), name


def cxx_kinds(header, namespace):
    text = (ROOT / "include" / "lobbykit" / header).read_text()
    body = re.search(r"namespace %s \{(.*?)\}  // namespace %s" % (namespace, namespace),
                     text, re.S).group(1)
    names = re.findall(r"^struct (\w+)", body, re.M)
    return {re.sub(r"(?<!^)(?=[A-Z])", "_", n).lower() for n in names}


def test_every_cxx_event_kind_has_a_class():
    assert cxx_kinds("client.hpp", "client_event") == set(events._KINDS)
    assert cxx_kinds("provider.hpp", "provider_event") == set(bots._EVENT_TYPES)
    assert cxx_kinds("events.hpp", "event") == set(server_events._KINDS)
    for kinds in (events._KINDS, server_events._KINDS):
        for kind, cls in kinds.items():
            assert cls.type == kind and dataclasses.is_dataclass(cls)
            assert cls.__dataclass_params__.frozen


def test_unknown_event_kinds_still_decode():
    event = events.client_event_from_json('{"type": "from_the_future", "x": 1}')
    assert isinstance(event, events.UnknownClientEvent)
    assert (event.type, event.data["x"]) == ("from_the_future", 1)
    assert server_events.server_event_from_json('{"type": "later"}').type == "later"


SAMPLE = '''
import asyncio
import lobbykit
from lobbykit import events

def on_event(event: events.ClientEvent) -> None:
    if isinstance(event, events.Chat):
        offset: int = event.message.offset

async def main(server: lobbykit.Server) -> None:
    async with lobbykit.AsyncClient(server, name="Ada") as client:
        lobby = await client.create_lobby("x")
        async for event in client.events():
            print(event.type, lobby["lobby"])

with lobbykit.Server(port=0, store_path="") as server:
    client = lobbykit.Client(server, lobbykit.ClientOptions(name="Ada"))
    client.subscribe(on_event)
    snap: lobbykit.Snapshot = client.snapshot()
    port: int = server.port
    asyncio.run(main(server))
'''


@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_accepts_a_typical_program(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(SAMPLE)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", str(sample)],
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr

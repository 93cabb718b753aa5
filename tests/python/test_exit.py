"""Interpreter exit with servers and clients still running: the process must end cleanly
(exit status 0, no crash, no hang) without anyone calling stop()."""

import subprocess
import sys
import textwrap

import pytest

from conftest import subprocess_env

EXIT_DEADLINE_S = 60.0   # generous: a hang is what fails, not slowness

PROLOGUE = """
import asyncio, sys, threading, time
import lobbykit
server = lobbykit.Server(port=0, store_path="",
                         limits=lobbykit.Limits(rate_per_second=1e6, rate_burst=1e6))
url = f"ws://127.0.0.1:{server.port}/ws"
"""

SCENARIOS = {
    # Started objects with busy callbacks that print and refer to their objects.
    "started": """
server.subscribe(lambda e: print("server", e.type, server.port, flush=True))
server.start()
clients = [lobbykit.Client(server, name="Ada"), lobbykit.Client(url, name="Bob")]
for c in clients:
    c.subscribe(lambda e, c=c: print("client", e.type, c.state, flush=True))
    c.start()
for c in clients:
    c.wait_connected(timeout=10)
lobby = clients[0].create_lobby("Exit")["lobby"]["id"]
for c in clients:
    c.join_lobby(lobby)
for i in range(50):   # in flight at exit
    clients[1].request_with_callback("chat", {"text": str(i)}, lambda r, e: None)
print("exiting", flush=True)
""",
    # run() on a daemon thread, a slow callback, and a thread blocked in a request.
    "run_in_daemon_thread": """
threading.Thread(target=server.run, daemon=True).start()
client = lobbykit.Client(url, name="Ada")
client.subscribe(lambda e: time.sleep(0.01))
client.start()
client.wait_connected(timeout=10)
client.join_lobby(client.create_lobby("Exit")["lobby"]["id"])
def chatter():   # its requests fail with 'stopped' once the exit hook stops the client
    try:
        while True:
            client.chat("again")
    except lobbykit.RequestError as e:
        assert e.code in ("stopped", "connection_lost"), e
threading.Thread(target=chatter, daemon=True).start()
time.sleep(0.2)   # let the threads get busy (not a synchronisation)
print("exiting", flush=True)
""",
    # An AsyncClient whose event loop ended without stop().
    "asyncio_loop_gone": """
server.start()
async def main():
    client = lobbykit.AsyncClient(url, name="Ada")
    await asyncio.wait_for(client.start(), 10)
    await client.create_lobby("Exit")
    return client
client = asyncio.run(main())
print("exiting", client.state, flush=True)
""",
    # The interpreter exits through an exception while a client reconnects in a loop.
    "exception_exit": """
server.start()
retry_fast = lobbykit.ReconnectPolicy(initial_delay_ms=1, max_delay_ms=5)
client = lobbykit.Client(url, reconnect=retry_fast)
client.subscribe(lambda e: None)
client.start()
client.wait_connected(timeout=10)
server.stop()
print("exiting", flush=True)
sys.exit(0)
""",
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_exit_without_stop(scenario, tmp_path):
    script = tmp_path / "exit_scenario.py"
    script.write_text(textwrap.dedent(PROLOGUE) + textwrap.dedent(SCENARIOS[scenario]))
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          env=subprocess_env(), text=True, timeout=EXIT_DEADLINE_S)
    detail = (f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\n"
              f"stderr:\n{proc.stderr[-3000:]}")
    assert proc.returncode == 0, detail
    assert "exiting" in proc.stdout, detail
    for bad in ("Fatal Python error", "terminate called", "Segmentation", "Traceback",
                "AddressSanitizer", "runtime error:"):
        assert bad not in proc.stderr, detail

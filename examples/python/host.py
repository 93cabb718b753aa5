#!/usr/bin/env python3
"""A Python program that embeds a lobbykit server and talks to it as a client over a real
WebSocket, using only the installed lobbykit package: it sets a name, creates and joins a
lobby, chats, prints what it received, and exits 0 (1 on any failure).

    python3 examples/python/host.py
"""

import queue
import sys
import time

import lobbykit
from lobbykit import events

TIMEOUT_S = 10.0
TEXT = "hello from Python"


def main() -> int:
    # port 0: a free port; store_path "": in memory, nothing written to disk.
    with lobbykit.Server(port=0, store_path="") as server:
        server.subscribe(lambda e: print(f"server: {e.type}", flush=True))
        url = f"ws://127.0.0.1:{server.port}/ws"
        received: "queue.Queue[events.ClientEvent]" = queue.Queue()
        with lobbykit.Client(url) as client:
            client.subscribe(received.put)  # on the client's thread: hand over, never block
            client.wait_connected(timeout=TIMEOUT_S)
            print(f"connected to {url} as peer {client.snapshot().peer_id}")
            print("set_name:", client.set_name("Ada"))
            lobby = client.create_lobby("Standup")["lobby"]
            print("create_lobby:", lobby)
            joined = client.join_lobby(lobby["id"])
            print("join_lobby:", [p["name"] for p in joined["participants"]])
            offset = client.chat(TEXT)["offset"]
            print("chat: offset", offset)

            deadline = time.monotonic() + TIMEOUT_S
            while True:
                event = received.get(timeout=max(0.0, deadline - time.monotonic()))
                print("client:", event)
                if isinstance(event, events.Chat) and event.message.text == TEXT:
                    break
            snapshot = client.snapshot()
            if [m.text for m in snapshot.chat] != [TEXT] or snapshot.lobby is None:
                print(f"unexpected state: {snapshot}", file=sys.stderr)
                return 1
    print("ok")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (lobbykit.Error, queue.Empty, TimeoutError) as e:
        print(f"host.py failed: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)

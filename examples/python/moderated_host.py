#!/usr/bin/env python3
"""A Python host that runs a moderated room on an embedded lobbykit server
(docs/embedding.md): its backend signs access tokens for its users, only invited users may
join the team room, a banned word never reaches anyone, and everyone who joins gets a
welcome notice from the server.

    python3 examples/python/moderated_host.py          # the demo below, then exit 0
    python3 examples/python/moderated_host.py --serve  # serve on 127.0.0.1:8080 until ^C

The demo plays three users against it over real WebSockets and prints what each sees.
"""

import asyncio
import secrets
import sys

import lobbykit

BANNED = "sprocket"             # the word this host does not allow
INVITED = {"u-ada", "u-bob"}    # user ids invited to the team room
TIMEOUT_S = 10.0


class Host:
    """The product around the server: its users, its room, its rules."""

    def __init__(self, port: int) -> None:
        self.secret = secrets.token_hex(32)  # shared by the server and this "backend"
        self.server = lobbykit.Server(port=port, store_path="", token_secret=self.secret,
                                      require_token=True)
        self.room = ""

    def token_for(self, user_id: str, name: str) -> str:
        """What the product's login would hand its browser or app."""
        return lobbykit.mint_access_token(self.secret, user_id, name=name, ttl=600)

    async def start(self) -> None:
        self.server.start()
        self.room = self.server.create_lobby("Team room", persistent=True).id
        # Hooks run in this asyncio loop: they may await the product's database.
        self.server.on_join(self.only_invited)
        self.server.on_chat(self.no_banned_word)
        self.server.subscribe(self.welcome)

    async def only_invited(self, request: dict) -> None:
        if request["lobby"]["id"] == self.room and request["user_id"] not in INVITED:
            raise lobbykit.Denied("not_invited", "This room is for invited members only.")

    async def no_banned_word(self, request: dict) -> None:
        if BANNED in request["text"].lower():
            raise lobbykit.Denied("banned_word", f'Please do not say "{BANNED}" here.')

    def welcome(self, event: lobbykit.ServerEvent) -> None:
        # Event handlers run on the server's loop thread; a host operation from there runs
        # at once, inline.
        if event.type == "participant_joined" and event.lobby_id == self.room:
            self.server.post_notice(self.room, f"Welcome, {event.participant.name}!")

    def stop(self) -> None:
        self.server.stop()


async def user(host: Host, user_id: str, name: str) -> lobbykit.AsyncClient:
    client = lobbykit.AsyncClient(f"ws://127.0.0.1:{host.server.port}/ws",
                                  access_token=host.token_for(user_id, name))
    await asyncio.wait_for(client.start(), TIMEOUT_S)
    return client


async def demo() -> int:
    host = Host(port=0)
    await host.start()
    try:
        ada = await user(host, "u-ada", "Ada")
        mallory = await user(host, "u-mallory", "Mallory")

        await ada.join_lobby(host.room)
        try:
            await mallory.join_lobby(host.room)
            print("Mallory got in: the join hook did not work", file=sys.stderr)
            return 1
        except lobbykit.RequestError as e:
            print(f"Mallory: {e.code} ({e.reason}): {e.message}")

        await ada.chat("Morning all")
        try:
            await ada.chat(f"Who took my {BANNED}?")
            print("the banned word got through", file=sys.stderr)
            return 1
        except lobbykit.RequestError as e:
            print(f"Ada: {e.code} ({e.reason}): {e.message}")

        bob = await user(host, "u-bob", "Bob")
        await bob.join_lobby(host.room)
        # The notice is posted while Bob joins: his join's snapshot carries it.
        chat = [("(server)" if m.system else m.sender_name, m.text)
                for m in (await bob.snapshot()).chat]
        print("Bob sees:", chat)
        expected = [("(server)", "Welcome, Ada!"), ("Ada", "Morning all"),
                    ("(server)", "Welcome, Bob!")]
        if chat != expected:
            print(f"expected {expected}", file=sys.stderr)
            return 1
        for client in (ada, mallory, bob):
            await client.stop()
    finally:
        host.stop()
    print("moderated_host: ok")
    return 0


async def serve() -> None:
    host = Host(port=8080)
    await host.start()
    print(f"serving on 127.0.0.1:8080; room {host.room}")
    print("a token for Ada:", host.token_for("u-ada", "Ada"))
    try:
        await asyncio.Event().wait()
    finally:
        host.stop()


if __name__ == "__main__":
    if "--serve" in sys.argv[1:]:
        asyncio.run(serve())
    else:
        sys.exit(asyncio.run(asyncio.wait_for(demo(), 60)))

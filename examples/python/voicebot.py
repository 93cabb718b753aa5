"""An echo voicebot: when a lobby asks for one (add_bot "echo", or an admin's
PUT /api/admin/lobbies/{id}/bots/{key}), it joins, plays back to everyone what the newest
speaker says, and leaves when someone types "!leave". Run it beside a lobbykit-server:

    LOBBYKIT_URL=ws://127.0.0.1:8080/ws LOBBYKIT_PROVIDER_KEY=... /usr/bin/python3 voicebot.py

SIGTERM or Ctrl-C: it stops taking jobs, lets the running ones finish (30 s at most; the
rest go to another provider), then exits."""

import asyncio
import os
import socket

import lobbykit
from lobbykit import events

provider = lobbykit.BotProvider(
    os.environ.get("LOBBYKIT_URL", "ws://127.0.0.1:8080/ws"),
    key=os.environ["LOBBYKIT_PROVIDER_KEY"],
    name=socket.gethostname()[:64],
    kinds={"echo": "Plays back what you say"},
    max_jobs=4,
    load=lobbykit.bots.cpu_load,  # the heartbeat reports the machine's load
)


@provider.handler("echo")
async def echo(ctx: lobbykit.JobContext) -> None:
    chat = ctx.events()  # before anything is said
    await ctx.client.chat(f"{ctx.bot_name} here: talk to me, type !leave to send me away")

    async def play_back() -> None:
        async for peer_id, track in ctx.media.tracks():  # each peer's audio, as they come
            ctx.media.set_audio(track)                    # everyone hears the newest one

    playing = asyncio.create_task(play_back())
    try:
        async for event in chat:
            if isinstance(event, events.Chat) and event.message.text == "!leave":
                await ctx.end("asked to leave")  # the dispatch is done; this task ends here
    finally:
        playing.cancel()


if __name__ == "__main__":
    asyncio.run(provider.run())

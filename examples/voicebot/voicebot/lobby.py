"""The thin adapter between the speech half and lobbykit: the `assistant` and `reader` job
handlers, written against lobbykit.BotProvider / JobContext and lobbykit.media.Mesh as they
are on branch `provider` (bindings/python/lobbykit/bots.py, media.py). Everything
lobbykit-specific is in this module; the rest of the package knows nothing of lobbykit.

What a handler uses: ctx.client (AsyncClient in the lobby as the bot), ctx.bot_name,
ctx.events(), ctx.media (Mesh: set_audio(track), tracks() -> (peer_id, track)), ctx.end()."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from typing import Any, Callable, Dict, List, Optional

from .commands import ChatLine, Situation, chat_report, reader_line, reply_to
from .listener import PeerListener, SpeechService
from .recognizer import Recognition
from .track import SpeechTrack
from .vad import Utterance

log = logging.getLogger("voicebot")

KINDS = {
    "assistant": "Answers spoken commands (say: what can you do)",
    "reader": "Reads the chat aloud",
}
GOODBYE_TIMEOUT_S = 10.0    # how long the assistant lets "Goodbye!" play before it leaves
CHAT_KEPT = 50              # chat lines the assistant remembers for "read the chat"


class LobbyView:
    """Who is in the lobby and what was said, kept from the bot's snapshot and events."""

    def __init__(self, snapshot: Any) -> None:
        self.own_peer_id: str = snapshot.peer_id
        self.people: Dict[str, Any] = {p.peer_id: p for p in snapshot.participants}
        self.chat: List[ChatLine] = [self._line(m) for m in snapshot.chat][-CHAT_KEPT:]

    def apply(self, event: Any) -> Optional[ChatLine]:
        """Updates from one client event; returns the chat line it carried, if any."""
        kind = getattr(event, "type", "")  # lobbykit.events by their type names
        if kind in ("participant_joined", "participant_updated"):
            self.people[event.participant.peer_id] = event.participant
        elif kind == "participant_left":
            self.people.pop(event.peer_id, None)
        elif kind == "chat":
            line = self._line(event.message)
            self.chat = (self.chat + [line])[-CHAT_KEPT:]
            return line
        return None

    def name_of(self, peer_id: str) -> str:
        p = self.people.get(peer_id)
        return p.name if p is not None else ""

    def is_bot(self, peer_id: str) -> bool:
        p = self.people.get(peer_id)
        return peer_id == self.own_peer_id or (p is not None and p.is_bot)

    def others(self) -> tuple:
        return tuple(p.name for pid, p in self.people.items() if pid != self.own_peer_id)

    def _line(self, message: Any) -> ChatLine:
        return ChatLine(message.sender_name, message.text, self.is_bot(message.sender))


async def _follow(ctx: Any, view: LobbyView, on_chat: Optional[Callable[[ChatLine], Any]],
                  stream: Any) -> None:
    async for event in stream:
        line = view.apply(event)
        if line is not None and on_chat is not None:
            await on_chat(line)


async def _drain(track: Any) -> None:
    """Reads a track nobody listens to (aiortc queues unread frames without bound)."""
    with contextlib.suppress(Exception):
        while True:
            await track.recv()


async def assistant(ctx: Any, service: SpeechService,
                    now: Callable[[], dt.datetime] = dt.datetime.now) -> None:
    """Listens to every person (not to bots), answers commands by voice and in the chat,
    leaves when asked."""
    stream = ctx.events()
    view = LobbyView(await ctx.client.snapshot())
    voice = SpeechTrack()
    ctx.media.set_audio(voice)
    tasks: List["asyncio.Task[None]"] = []

    async def answer(peer_id: str, utterance: Utterance, result: Recognition) -> None:
        if result.command is None:
            return
        situation = Situation(now=now(), bot_name=ctx.bot_name,
                              speaker_name=view.name_of(peer_id),
                              participants=view.others(), chat=tuple(view.chat))
        reply = reply_to(result.command, situation)
        played = voice.say(await service.synthesize(reply.text))
        await ctx.client.chat(chat_report(situation.speaker_name, result.words, reply))
        if reply.leave:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(played, GOODBYE_TIMEOUT_S)
            await ctx.end(f"asked to leave by {situation.speaker_name or peer_id}")

    try:
        tasks.append(asyncio.create_task(_follow(ctx, view, None, stream)))
        await ctx.client.chat(f"{ctx.bot_name} here. Say: what can you do.")
        async for peer_id, track in ctx.media.tracks():
            if view.is_bot(peer_id):
                tasks.append(asyncio.create_task(_drain(track)))
            else:
                listener = PeerListener(service, peer_id, answer)
                tasks.append(asyncio.create_task(listener.run(track)))
    finally:
        for task in tasks:
            task.cancel()
        voice.stop()


async def reader(ctx: Any, service: SpeechService) -> None:
    """Speaks every person's chat message aloud, in order."""
    stream = ctx.events()
    view = LobbyView(await ctx.client.snapshot())
    voice = SpeechTrack()
    ctx.media.set_audio(voice)
    drains: List["asyncio.Task[None]"] = []

    async def speak(line: ChatLine) -> None:
        text = reader_line(line.sender_name, line.text, line.from_bot)
        if text is not None:
            voice.say(await service.synthesize(text))  # queued: lines play one after another

    async def ignore_incoming() -> None:
        async for _peer_id, track in ctx.media.tracks():
            drains.append(asyncio.create_task(_drain(track)))

    drains.append(asyncio.create_task(ignore_incoming()))
    try:
        await ctx.client.chat(f"{ctx.bot_name} here: I read the chat aloud.")
        await _follow(ctx, view, speak, stream)
    finally:
        for task in drains:
            task.cancel()
        voice.stop()


def register(provider: Any, service: SpeechService, kinds: Optional[List[str]] = None) -> None:
    """Registers the handlers of `kinds` (default: all) on a lobbykit.BotProvider."""
    handlers = {"assistant": lambda ctx: assistant(ctx, service),
                "reader": lambda ctx: reader(ctx, service)}
    for kind in kinds or list(KINDS):
        provider.handler(kind)(handlers[kind])

"""The lobbykit adapter (voicebot.lobby) against a fake JobContext shaped like branch
`provider`'s (client.chat/snapshot, events(), media.set_audio/tracks(), end()): a person
says "what time is it" and "please leave the lobby" into the call; the assistant answers by
voice and in the chat, ignores a bot's audio, and ends the job. The reader speaks a
person's chat line and not a bot's."""

from __future__ import annotations

import asyncio
import datetime as dt
from types import SimpleNamespace as NS

import numpy as np

from voicebot import SpeechService
from voicebot.lobby import assistant, reader
from voicebot.audio import frame_from_pcm, split

from conftest import silence

TIMEOUT = 30.0


class FakeTrack:
    """An incoming track: the given 48 kHz PCM in 20 ms frames, then the end."""

    def __init__(self, pcm48: bytes) -> None:
        self.frames = [frame_from_pcm(c + bytes(1920 - len(c)), 48_000)
                       for c in split(pcm48, 960)]

    async def recv(self):
        if not self.frames:
            from aiortc.mediastreams import MediaStreamError
            raise MediaStreamError
        await asyncio.sleep(0)
        return self.frames.pop(0)


class FakeContext:
    def __init__(self, participants, tracks, chat=()):
        self.bot_name = "assistant"
        self.chats = []
        self.ended = asyncio.get_running_loop().create_future()
        self.event_queue: asyncio.Queue = asyncio.Queue()
        self.audio = None
        self.has_audio = asyncio.Event()
        me = NS(peer_id="bot", name="assistant", is_bot=True)
        snapshot = NS(peer_id="bot", participants=tuple(participants) + (me,), chat=tuple(chat))
        ctx = self

        class Client:
            async def snapshot(self):
                return snapshot

            async def chat(self, text):
                ctx.chats.append(text)
                return {"offset": len(ctx.chats)}

        class Media:
            def set_audio(self, track):
                ctx.audio = track
                ctx.has_audio.set()

            async def tracks(self):
                for item in tracks:
                    yield item
                await asyncio.Event().wait()   # more peers may come: never ends by itself

        self.client, self.media = Client(), Media()

    def events(self):
        async def stream():
            while True:
                yield await self.event_queue.get()
        return stream()

    async def end(self, reason=""):
        self.ended.set_result(reason)
        raise asyncio.CancelledError


async def play_out(track, frames):
    """Reads `frames` frames of what the bot says (as aiortc's sender would)."""
    out = [await track.recv() for _ in range(frames)]
    return np.concatenate([f.to_ndarray().reshape(-1) for f in out])


def test_assistant_answers_and_leaves(synthesizer):
    async def scenario():
        service = SpeechService(synthesizer=synthesizer)
        said = (silence(0.5, 48_000) + synthesizer.synthesize("what time is it")
                + silence(1.0, 48_000) + synthesizer.synthesize("please leave the lobby")
                + silence(1.0, 48_000))
        bot_said = silence(0.5, 48_000) + synthesizer.synthesize("what time is it") + \
            silence(1.0, 48_000)
        ada = NS(peer_id="ada", name="Ada", is_bot=False)
        other_bot = NS(peer_id="reader1", name="reader", is_bot=True)
        ctx = FakeContext([ada, other_bot],
                          [("reader1", FakeTrack(bot_said)), ("ada", FakeTrack(said))])
        handler = asyncio.create_task(assistant(ctx, service, now=lambda: dt.datetime(
            2026, 12, 4, 15, 7)))
        await ctx.has_audio.wait()
        # Play what the bot says while it works: the goodbye must be heard before it ends.
        heard = asyncio.create_task(play_out(ctx.audio, 400))
        reason = await asyncio.wait_for(ctx.ended, TIMEOUT)
        samples = await asyncio.wait_for(heard, TIMEOUT)
        with_cancel = handler.cancel()
        service.close()
        return ctx.chats, reason, samples, with_cancel

    chats, reason, samples, _ = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT * 2))
    assert chats[0].startswith("assistant here")
    assert chats[1:] == ['Heard Ada: "what time is it". Answered: "It is 3 oh 7 p m."',
                         'Heard Ada: "please leave the lobby". Answered: "Goodbye!"']
    assert reason == "asked to leave by Ada"
    assert np.abs(samples).max() > 1000   # it spoke


def test_reader_speaks_people_not_bots(synthesizer):
    async def scenario():
        service = SpeechService(synthesizer=synthesizer)
        ada = NS(peer_id="ada", name="Ada", is_bot=False)
        helper = NS(peer_id="a1", name="assistant", is_bot=True)
        ctx = FakeContext([ada, helper], [])
        handler = asyncio.create_task(reader(ctx, service))
        await ctx.has_audio.wait()
        msg = lambda sender, name, text: NS(type="chat", lobby_id="L", message=NS(
            offset=1, sender=sender, sender_name=name, text=text))
        ctx.event_queue.put_nowait(msg("a1", "assistant", "Heard Ada: something"))
        ctx.event_queue.put_nowait(msg("ada", "Ada", "hello"))
        # Silence until the line is synthesised (in the executor), then the line.
        samples = await play_out(ctx.audio, 150)
        handler.cancel()
        service.close()
        return ctx.chats, samples

    chats, samples = asyncio.run(asyncio.wait_for(scenario(), TIMEOUT))
    expected = synthesizer.synthesize("Ada says: hello")
    expected = np.frombuffer(expected, np.int16)
    start = int(np.flatnonzero(samples)[0]) - int(np.flatnonzero(expected)[0])
    assert start >= 0 and len(samples) >= start + len(expected), "the line was not played"
    assert np.array_equal(samples[start:start + len(expected)], expected)  # Ada's line
    assert not samples[start + len(expected):].any()                      # and no other
    assert chats == ["assistant here: I read the chat aloud."]

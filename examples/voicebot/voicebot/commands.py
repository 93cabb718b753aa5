"""What the bots say: the assistant's commands and replies, and the reader's lines. Pure
functions of their inputs (no audio, no clock, no network), so they are tested directly."""

from __future__ import annotations

import datetime as _dt
import enum
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple


class Command(enum.Enum):
    TIME = "time"
    DAY = "day"
    HELLO = "hello"
    READ_CHAT = "read_chat"
    LEAVE = "leave"
    WHO = "who"
    HELP = "help"
    THANKS = "thanks"


# Every phrase commands.jsgf accepts, as the recogniser spells it (a test checks both agree).
PHRASES: Dict[str, Command] = {
    "what time is it": Command.TIME,
    "what day is it": Command.DAY,
    "hello bot": Command.HELLO,
    "hi bot": Command.HELLO,
    "read the chat": Command.READ_CHAT,
    "read the messages": Command.READ_CHAT,
    "please leave the lobby": Command.LEAVE,
    "leave the lobby": Command.LEAVE,
    "who is here": Command.WHO,
    "what can you do": Command.HELP,
    "help": Command.HELP,
    "thank you": Command.THANKS,
}

CHAT_LINES_READ = 3       # "read the chat" reads this many of the newest messages
MAX_SPOKEN_CHARS = 300    # longer chat messages are cut (the reader speaks them in full time)


def command_for(words: str) -> Optional[Command]:
    """The command a recognised word string stands for ("read(2) the chat" variants are
    PocketSphinx pronunciation tags and are dropped), or None."""
    cleaned = " ".join(re.sub(r"\(\d+\)$", "", w) for w in words.lower().split())
    return PHRASES.get(cleaned)


@dataclass(frozen=True)
class ChatLine:
    sender_name: str
    text: str
    from_bot: bool = False


@dataclass(frozen=True)
class Situation:
    """What a reply may mention: the time, who asked, who is there, the chat so far."""
    now: _dt.datetime
    bot_name: str = "assistant"
    speaker_name: str = ""
    participants: Tuple[str, ...] = ()       # names of the others in the lobby (bot excluded)
    chat: Tuple[ChatLine, ...] = ()          # oldest first


@dataclass(frozen=True)
class Reply:
    text: str                 # what the bot says (and posts)
    leave: bool = False       # the bot leaves the lobby after saying it


def reply_to(command: Command, situation: Situation) -> Reply:
    """The assistant's answer to one command."""
    s = situation
    if command is Command.TIME:
        return Reply(f"It is {_clock(s.now)}.")
    if command is Command.DAY:
        return Reply(f"Today is {s.now.strftime('%A')}, {s.now.strftime('%B')} {s.now.day}.")
    if command is Command.HELLO:
        who = f", {s.speaker_name}" if s.speaker_name else ""
        return Reply(f"Hello{who}! I am {s.bot_name}. Say: what can you do.")
    if command is Command.READ_CHAT:
        lines = [c for c in s.chat if not c.from_bot][-CHAT_LINES_READ:]
        if not lines:
            return Reply("The chat is empty.")
        said = " ".join(f"{c.sender_name} wrote: {speakable(c.text)}." for c in lines)
        head = "The last message." if len(lines) == 1 else f"The last {len(lines)} messages."
        return Reply(f"{head} {said}")
    if command is Command.WHO:
        if not s.participants:
            return Reply("Nobody else is here.")
        return Reply(f"Here {'is' if len(s.participants) == 1 else 'are'} "
                     f"{_join(list(s.participants))}.")
    if command is Command.HELP:
        return Reply("Ask me: what time is it, what day is it, who is here, read the chat, "
                     "or please leave the lobby.")
    if command is Command.THANKS:
        return Reply("You are welcome.")
    if command is Command.LEAVE:
        return Reply("Goodbye!", leave=True)
    raise ValueError(f"no reply for {command}")


def chat_report(speaker_name: str, heard: str, reply: Reply) -> str:
    """What the assistant posts in the chat after answering."""
    who = speaker_name or "someone"
    return f'Heard {who}: "{heard}". Answered: "{reply.text}"'


def reader_line(sender_name: str, text: str, from_bot: bool) -> Optional[str]:
    """What the reader says for a chat message, or None for what it does not read: bots'
    messages (its own and the assistant's reports, which would echo between bots) and
    messages with nothing speakable."""
    if from_bot:
        return None
    spoken = speakable(text)
    if not spoken:
        return None
    return f"{speakable(sender_name) or 'Someone'} says: {spoken}"


def speakable(text: str) -> str:
    """Chat text made fit for speech: links become "a link", control and format characters
    go, whitespace collapses, and it is cut to MAX_SPOKEN_CHARS at a word boundary."""
    text = re.sub(r"https?://\S+|www\.\S+", " a link ", text)
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text)
    text = " ".join(text.split())
    if len(text) > MAX_SPOKEN_CHARS:
        text = text[:MAX_SPOKEN_CHARS].rsplit(" ", 1)[0] + " and so on"
    return text


def _clock(now: _dt.datetime) -> str:
    hour = now.hour % 12 or 12
    minute = ("o'clock" if now.minute == 0 else
              f"oh {now.minute}" if now.minute < 10 else str(now.minute))
    return f"{hour} {minute} {'a m' if now.hour < 12 else 'p m'}"


def _join(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

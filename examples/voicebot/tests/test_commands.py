"""The assistant's replies and the reader's lines, without audio."""

from __future__ import annotations

import datetime as dt

import pytest

from voicebot import (ChatLine, Command, Reply, Situation, chat_report, reader_line,
                      reply_to, speakable)
from voicebot.commands import CHAT_LINES_READ, MAX_SPOKEN_CHARS

NOW = dt.datetime(2026, 12, 4, 15, 7)


def situation(**kw) -> Situation:
    base = dict(now=NOW, bot_name="assistant", speaker_name="Ada",
                participants=("Ada", "Bob"), chat=())
    base.update(kw)
    return Situation(**base)


def test_every_command_has_a_reply():
    for command in Command:
        reply = reply_to(command, situation())
        assert isinstance(reply, Reply) and reply.text
        assert reply.leave == (command is Command.LEAVE)


@pytest.mark.parametrize("hour, minute, said", [
    (15, 7, "3 oh 7 p m"), (0, 0, "12 o'clock a m"), (12, 30, "12 30 p m"), (9, 45, "9 45 a m")])
def test_time(hour, minute, said):
    now = NOW.replace(hour=hour, minute=minute)
    assert reply_to(Command.TIME, situation(now=now)).text == f"It is {said}."


def test_day():
    assert reply_to(Command.DAY, situation()).text == "Today is Friday, December 4."


def test_hello_names_the_speaker_and_the_bot():
    assert reply_to(Command.HELLO, situation()).text.startswith("Hello, Ada! I am assistant.")
    assert reply_to(Command.HELLO, situation(speaker_name="")).text.startswith("Hello! ")


def test_read_chat_reads_the_newest_human_messages():
    chat = tuple(ChatLine(f"P{i}", f"message {i}") for i in range(5)) + \
        (ChatLine("assistant", "Heard Ada ...", from_bot=True),)
    text = reply_to(Command.READ_CHAT, situation(chat=chat)).text
    assert text.startswith(f"The last {CHAT_LINES_READ} messages.")
    assert "P2 wrote: message 2." in text and "P4 wrote: message 4." in text
    assert "P1" not in text and "Heard" not in text
    one = reply_to(Command.READ_CHAT, situation(chat=(ChatLine("Bob", "hi"),))).text
    assert one == "The last message. Bob wrote: hi."
    assert reply_to(Command.READ_CHAT, situation()).text == "The chat is empty."


def test_who():
    assert reply_to(Command.WHO, situation()).text == "Here are Ada and Bob."
    assert reply_to(Command.WHO, situation(participants=("Ada",))).text == "Here is Ada."
    assert reply_to(Command.WHO, situation(participants=("A", "B", "C"))).text == \
        "Here are A, B and C."
    assert reply_to(Command.WHO, situation(participants=())).text == "Nobody else is here."


def test_help_thanks_leave():
    assert "what time is it" in reply_to(Command.HELP, situation()).text
    assert reply_to(Command.THANKS, situation()).text == "You are welcome."
    assert reply_to(Command.LEAVE, situation()) == Reply("Goodbye!", leave=True)


def test_chat_report():
    reply = Reply("It is 3 oh 7 p m.")
    assert chat_report("Ada", "what time is it", reply) == \
        'Heard Ada: "what time is it". Answered: "It is 3 oh 7 p m."'


def test_reader_lines():
    assert reader_line("Ada", "hello  there\n", False) == "Ada says: hello there"
    assert reader_line("assistant", "Heard Ada", True) is None
    assert reader_line("Ada", " \u200b\n", False) is None
    assert reader_line("", "hi", False) == "Someone says: hi"
    assert reader_line("Ada", "see https://example.org/x?y", False) == "Ada says: see a link"


def test_speakable_cuts_long_text_at_a_word():
    text = speakable("word " * 200)
    assert len(text) <= MAX_SPOKEN_CHARS + len(" and so on")
    assert text.endswith("word and so on")

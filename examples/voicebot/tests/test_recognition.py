"""espeak-ng says each command -> 48 kHz -> 16 kHz (per-frame, as from WebRTC) -> VAD ->
Recognizer returns the command; non-commands, silence and noise give no command."""

from __future__ import annotations

import re

import numpy as np
import pytest

from voicebot import (PHRASES, Command, FrameResampler, Segmenter, command_for,
                      make_wav, parse_wav)
from voicebot.audio import frame_from_pcm, split
from voicebot.recognizer import GRAMMAR

from conftest import silence

# Phrases outside the grammar that the rejection measured as rejected with this voice.
# (It does not reject every phrase: README.md, "Recognition", has the measured rates.)
NOT_COMMANDS = ["the weather is nice today", "I like pizza with cheese",
                "what time does the train leave"]


# What each phrase must mean, written out here (not read from PHRASES, which is under test).
EXPECTED = {
    "what time is it": Command.TIME, "what day is it": Command.DAY,
    "hello bot": Command.HELLO, "hi bot": Command.HELLO,
    "read the chat": Command.READ_CHAT, "read the messages": Command.READ_CHAT,
    "please leave the lobby": Command.LEAVE, "leave the lobby": Command.LEAVE,
    "who is here": Command.WHO, "what can you do": Command.HELP, "help": Command.HELP,
    "thank you": Command.THANKS,
}


def webrtc_frames(pcm48: bytes, stereo: bool = True):
    """48 kHz PCM as aiortc hands it over: 20 ms frames, stereo s16 (Opus decodes to
    stereo), with running pts."""
    for i, chunk in enumerate(split(pcm48, 960)):
        chunk = chunk + bytes(1920 - len(chunk))
        if stereo:
            samples = np.frombuffer(chunk, np.int16)
            chunk = np.repeat(samples, 2).tobytes()
        frame = frame_from_pcm(chunk, 48_000, 2 if stereo else 1)
        frame.pts = i * 960
        yield frame


def utterances_from_call(synthesizer, text: str):
    """What a PeerListener's resampler and segmenter make of `text` said into a call, with
    half a second of silence before and a second after."""
    pcm48 = silence(0.5, 48_000) + synthesizer.synthesize(text) + silence(1.0, 48_000)
    resampler, segmenter = FrameResampler(), Segmenter()
    found = []
    for frame in webrtc_frames(pcm48):
        found += segmenter.feed(resampler.convert(frame))
    found += segmenter.feed(resampler.flush())
    assert segmenter.flush() is None, "the utterance did not end at the pause"
    return found


def test_phrase_table():
    assert PHRASES == EXPECTED


@pytest.mark.parametrize("phrase", sorted(EXPECTED))
def test_each_command_is_recognised(synthesizer, recognizer, phrase):
    utterances = utterances_from_call(synthesizer, phrase)
    assert len(utterances) == 1, [u.duration_s for u in utterances]
    result = recognizer.decode(utterances[0].pcm)
    assert result.command is EXPECTED[phrase], result


@pytest.mark.parametrize("phrase", NOT_COMMANDS)
def test_non_command_is_rejected(synthesizer, recognizer, phrase):
    utterances = utterances_from_call(synthesizer, phrase)
    assert len(utterances) == 1
    result = recognizer.decode(utterances[0].pcm)
    assert result.command is None, result
    assert result.rejected


def test_recognizer_on_plain_pcm(spoken, recognizer):
    pcm = silence(0.3) + spoken("what day is it") + silence(0.3)
    assert recognizer.recognize(pcm) is Command.DAY


def test_silence_decodes_to_nothing(recognizer):
    assert recognizer.recognize(silence(1.0)) is None


def test_silence_and_noise_make_no_utterance():
    rng = np.random.default_rng(7)
    seg = Segmenter()
    assert seg.feed(silence(3.0)) == [] and seg.flush() is None
    for level in (300, 3000):     # about -40 and -20 dBFS of steady white noise
        seg = Segmenter()
        noise = (rng.standard_normal(16_000 * 4) * level).astype(np.int16).tobytes()
        assert seg.feed(noise) == [] and seg.flush() is None, level


def test_noise_switching_on_makes_no_utterance():
    rng = np.random.default_rng(8)
    noise = (rng.standard_normal(16_000 * 5) * 2000).astype(np.int16).tobytes()
    seg = Segmenter()
    assert seg.feed(silence(1.0) + noise) == [] and seg.flush() is None


def test_a_click_is_too_short(spoken):
    click = (np.ones(800) * 20000).astype(np.int16).tobytes()   # 50 ms
    seg = Segmenter()
    assert seg.feed(silence(1.0) + click + silence(1.0)) == [] and seg.flush() is None


def test_two_commands_in_a_row_are_two_utterances(spoken, recognizer):
    pcm = (silence(0.5) + spoken("hello bot") + silence(1.0) + spoken("who is here")
           + silence(1.0))
    seg = Segmenter()
    found = []
    for chunk in split(pcm, 333):        # odd chunk sizes: frames are assembled inside
        found += seg.feed(chunk)
    assert [recognizer.recognize(u.pcm) for u in found] == [Command.HELLO, Command.WHO]
    assert found[0].start_s == pytest.approx(0.5, abs=0.25)
    assert all(u.ended_by == "pause" for u in found)


def test_long_speech_is_cut_at_max_length(spoken):
    long_speech = b"".join(spoken("please leave the lobby") for _ in range(8))  # > 6 s
    seg = Segmenter()
    found = seg.feed(silence(0.5) + long_speech + silence(1.0))
    assert found and found[0].ended_by == "max_length"
    assert found[0].duration_s <= seg.settings.max_utterance_ms / 1000 + 1e-9


def test_grammar_and_phrase_table_agree():
    """Every phrase the grammar file lists is in PHRASES and the other way round (a
    phrase in one and not the other would be recognised and then dropped, or never heard)."""
    text = open(GRAMMAR).read()
    body = re.search(r"public <command> =(.*?);", text, re.S).group(1)
    expanded = set().union(*(_expand(alt) for alt in _split_top(body)))
    assert expanded == set(PHRASES)


def _split_top(body: str) -> list:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += ch in "([" and 1 or ch in ")]" and -1 or 0
        if ch == "|" and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    return parts + [body[start:]]


def _expand(alt: str) -> set:
    m = re.search(r"\(([^)]*)\)", alt)
    if m:
        return set().union(*(_expand(alt[:m.start()] + c + alt[m.end():])
                             for c in m.group(1).split("|")))
    m = re.search(r"\[([^\]]*)\]", alt)
    if m:
        return (_expand(alt[:m.start()] + m.group(1) + alt[m.end():])
                | _expand(alt[:m.start()] + alt[m.end():]))
    return {" ".join(alt.split())}


def test_command_for_drops_pronunciation_tags():
    assert command_for("read(2) the chat") is Command.READ_CHAT
    assert command_for("read the book") is None


def test_wav_round_trip():
    pcm = np.arange(-100, 100, dtype=np.int16).tobytes()
    assert parse_wav(make_wav(pcm, 48_000, 2)) == (48_000, 2, pcm)
    with pytest.raises(ValueError):
        parse_wav(b"RIFF\0\0\0\0WAVEjunk")

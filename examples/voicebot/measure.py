"""Measures on this machine: recognition and synthesis time per utterance, how long the
event loop is held while recognition runs in its executor, and the grammar's acceptance of
commands / rejection of other phrases over several espeak-ng voices.

    /usr/bin/python3 examples/voicebot/measure.py"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from voicebot import PHRASES, Recognizer, SpeechService, Synthesizer, resample_pcm  # noqa

OTHER = ["the weather is nice today", "I like pizza with cheese", "can you open the door",
         "good morning everyone", "what time does the train leave", "hello", "is it time",
         "read the book please", "leave me alone", "what is this", "hello there bot",
         "please read the chat", "time is up", "one two three four", "where is the station",
         "the quick brown fox jumps over the lazy dog", "I am going home now", "see you later"]
VOICES = ["en-us", "en-us+f3", "en-us+m3", "en-us+f2", "en-us+m1", "en-us+f4"]


def pad(pcm16: bytes) -> bytes:
    return bytes(6400) + pcm16 + bytes(6400)   # 0.2 s each side, as the VAD cuts it


async def loop_latency(service: SpeechService, pcm: bytes, runs: int = 20) -> float:
    """Worst delay of a 1 ms timer while utterances are decoded in the executor."""
    worst = 0.0
    stop = False

    async def ticker():
        nonlocal worst
        loop = asyncio.get_running_loop()
        while not stop:
            t = loop.time()
            await asyncio.sleep(0.001)
            worst = max(worst, loop.time() - t - 0.001)
    task = asyncio.create_task(ticker())
    for _ in range(runs):
        await service.recognize(pcm)
    stop = True
    await task
    return worst


def main() -> None:
    rec = Recognizer()
    synth_times, rec_times, lengths = [], [], []
    accepted = {v: 0 for v in VOICES}
    rejected = {v: 0 for v in VOICES}
    for voice in VOICES:
        synth = Synthesizer(voice=voice)
        for phrase in list(PHRASES) + OTHER:
            pcm48 = synth.synthesize(phrase)
            if voice == "en-us":
                synth_times.append(synth.last_seconds)
                lengths.append(len(pcm48) / 96_000)
            result = rec.decode(pad(resample_pcm(pcm48, 48_000, 16_000)))
            if voice == "en-us":
                rec_times.append(result.seconds)
            if phrase in PHRASES:
                accepted[voice] += result.command is PHRASES[phrase]
            else:
                rejected[voice] += result.command is None
    cached = Synthesizer()
    cached.synthesize("Goodbye!")
    t = time.perf_counter()
    cached.synthesize("Goodbye!")
    hit = time.perf_counter() - t
    print(f"utterances (en-us): {len(lengths)}, {min(lengths):.2f}-{max(lengths):.2f} s of speech")
    print(f"recognition per utterance: median {statistics.median(rec_times)*1000:.0f} ms, "
          f"max {max(rec_times)*1000:.0f} ms")
    print(f"synthesis per phrase (espeak-ng + resample to 48 kHz): median "
          f"{statistics.median(synth_times)*1000:.0f} ms, max {max(synth_times)*1000:.0f} ms;"
          f" cached: {hit*1e6:.0f} us")
    for voice in VOICES:
        print(f"{voice:9}: commands recognised {accepted[voice]}/{len(PHRASES)}, "
              f"other phrases rejected {rejected[voice]}/{len(OTHER)}")
    print(f"total: commands {sum(accepted.values())}/{len(PHRASES) * len(VOICES)}, "
          f"rejected {sum(rejected.values())}/{len(OTHER) * len(VOICES)}")
    service = SpeechService(rec, Synthesizer())
    pcm = pad(resample_pcm(Synthesizer().synthesize("please leave the lobby"), 48_000, 16_000))
    worst = asyncio.run(loop_latency(service, pcm))
    service.close()
    print(f"event loop: worst extra delay of a 1 ms timer during 20 decodes in the executor:"
          f" {worst*1000:.1f} ms")


if __name__ == "__main__":
    main()

"""SpeechTrack: 20 ms frames at 48 kHz, pts counting samples, paced against a fake clock
(no wall time), silence when idle, say() futures, stall handling."""

from __future__ import annotations

import asyncio
import fractions

import numpy as np
import pytest

from voicebot import FRAME_SAMPLES, SpeechTrack


class FakeClock:
    """A clock that only moves when the track sleeps (or the test moves it)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_frames_pts_and_pacing():
    async def scenario():
        clock = FakeClock()
        track = SpeechTrack(clock=clock, sleep=clock.sleep)
        frames = [await track.recv() for _ in range(50)]
        return clock, frames
    clock, frames = run(scenario())
    assert [f.pts for f in frames] == [i * FRAME_SAMPLES for i in range(50)]
    for f in frames:
        assert (f.samples, f.sample_rate, f.format.name, f.layout.name) == \
            (960, 48_000, "s16", "mono")
        assert f.time_base == fractions.Fraction(1, 48_000)
        assert not f.to_ndarray().any()                      # idle: silence
    # 50 frames = 1 s of audio took 49 steps of 20 ms on the clock: real-time pace.
    assert clock.now - 100.0 == pytest.approx(49 * 0.020)
    assert all(s == pytest.approx(0.020) for s in clock.sleeps)


def test_no_sleep_when_the_consumer_is_late_and_skip_after_a_stall():
    async def scenario():
        clock = FakeClock()
        track = SpeechTrack(clock=clock, sleep=clock.sleep)
        await track.recv()
        clock.now += 0.05              # 50 ms late: send at once, no sleep, no skip
        late = await track.recv()
        slept_after_late = len(clock.sleeps)
        clock.now += 1.0               # a 1 s stall: jump to the present
        after = await track.recv()
        return track, late, slept_after_late, after
    track, late, slept, after = run(scenario())
    assert slept == 0 and late.pts == 960
    assert track.frames_skipped >= 48
    # 1.05 s have passed since the first frame: the next frame is the one due by now.
    assert after.pts % 960 == 0 and 1.05 - 0.02 < after.pts / 48_000 <= 1.05


def test_say_plays_pcm_in_order_then_silence():
    async def scenario():
        clock = FakeClock()
        track = SpeechTrack(clock=clock, sleep=clock.sleep)
        a = np.full(960 * 2 + 100, 1000, np.int16).tobytes()
        b = np.full(500, -2000, np.int16).tobytes()
        done_a, done_b = track.say(a), track.say(b)
        frames = [await track.recv() for _ in range(5)]
        return frames, done_a, done_b
    frames, done_a, done_b = run(scenario())
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
    assert (samples[:2020] == 1000).all()
    assert (samples[2020:2520] == -2000).all()
    assert not samples[2520:].any()
    assert done_a.done() and done_b.done() and not done_a.cancelled()


def test_say_future_waits_for_playback_and_clear_cancels():
    async def scenario():
        clock = FakeClock()
        track = SpeechTrack(clock=clock, sleep=clock.sleep)
        done = track.say(bytes(960 * 2 * 3))
        await track.recv()
        await track.recv()
        pending = not done.done()
        await track.recv()
        finished = done.done()
        later = track.say(bytes(960 * 2 * 10))
        track.clear()
        after_clear = await track.recv()
        return pending, finished, later, after_clear, track.speaking
    pending, finished, later, after_clear, speaking = run(scenario())
    assert pending and finished
    assert later.cancelled() and not speaking and not after_clear.to_ndarray().any()


def test_stopped_track_ends():
    from aiortc.mediastreams import MediaStreamError

    async def scenario():
        track = SpeechTrack()
        track.stop()
        with pytest.raises(MediaStreamError):
            await track.recv()
    run(scenario())


def test_real_clock_default_paces_on_the_loop():
    """The default clock is the event loop's: 6 frames span 100 ms of loop time."""
    async def scenario():
        loop = asyncio.get_running_loop()
        track = SpeechTrack()
        await track.recv()
        start = loop.time()
        for _ in range(5):
            await track.recv()
        return loop.time() - start
    assert run(scenario()) >= 0.099

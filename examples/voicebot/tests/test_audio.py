"""Resampling keeps duration and pitch (48 kHz <-> 16 kHz, per frame and whole buffers);
synthesis gives 48 kHz mono of the right length, cached."""

from __future__ import annotations

import numpy as np
import pytest

from voicebot import FrameResampler, resample_pcm
from voicebot.audio import frame_from_pcm, split


def sine(freq: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(pcm: bytes, rate: int) -> float:
    x = np.frombuffer(pcm, np.int16).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum)) * rate / len(x)


@pytest.mark.parametrize("fmt", ["s16", "fltp"])
@pytest.mark.parametrize("layout", ["mono", "stereo"])
def test_webrtc_frames_to_16k_keep_pitch_and_duration(fmt, layout):
    tone = sine(1000, 2.0, 48_000)
    channels = 2 if layout == "stereo" else 1
    resampler = FrameResampler(16_000)
    out = b""
    for i, chunk in enumerate(split(tone.tobytes(), 960)):
        samples = np.frombuffer(chunk, np.int16)
        interleaved = np.repeat(samples, channels)
        frame = frame_from_pcm(interleaved.tobytes(), 48_000, channels)
        if fmt != "s16" or layout != "mono":
            import av
            frame = av.AudioResampler(format=fmt, layout=layout, rate=48_000).resample(frame)[0]
        frame.pts = i * 960
        out += resampler.convert(frame)
    out += resampler.flush()
    assert len(out) // 2 == pytest.approx(32_000, abs=16)       # 2 s at 16 kHz
    assert dominant_hz(out, 16_000) == pytest.approx(1000, abs=2)
    level = np.sqrt(np.mean(np.frombuffer(out, np.int16).astype(float) ** 2)) / 32767
    assert level == pytest.approx(0.5 / np.sqrt(2), rel=0.05)   # stereo mixed, not summed


def test_format_change_mid_stream_starts_a_new_filter():
    resampler = FrameResampler(16_000)
    a = resampler.convert(frame_from_pcm(sine(500, 0.5, 48_000).tobytes(), 48_000))
    b = resampler.convert(frame_from_pcm(sine(500, 0.5, 44_100).tobytes(), 44_100))
    total = len(a + b + resampler.flush()) // 2
    assert total == pytest.approx(16_000, abs=32)


@pytest.mark.parametrize("rates", [(16_000, 48_000), (48_000, 16_000), (22_050, 48_000)])
def test_whole_buffer_resampling(rates):
    rate_in, rate_out = rates
    out = resample_pcm(sine(1000, 1.5, rate_in).tobytes(), rate_in, rate_out)
    assert len(out) // 2 == pytest.approx(1.5 * rate_out, abs=rate_out * 0.002)
    assert dominant_hz(out, rate_out) == pytest.approx(1000, abs=2)


def test_synthesis_is_48k_mono_and_cached(synthesizer):
    from voicebot.audio import duration_s
    wav_rate, channels, wav_pcm = synthesizer.wav("read the chat")
    pcm = synthesizer.synthesize("read the chat")
    assert duration_s(pcm, 48_000) == pytest.approx(duration_s(wav_pcm, wav_rate) / channels,
                                                    abs=0.01)
    assert 0.5 < duration_s(pcm, 48_000) < 3
    hits = synthesizer.hits
    assert synthesizer.synthesize("  read   the chat ") is pcm
    assert synthesizer.hits == hits + 1
    assert synthesizer.synthesize("") == b""


def test_synthesis_takes_text_not_options(synthesizer):
    # Chat text starting with "-" is spoken, not taken for an espeak-ng option.
    assert len(synthesizer.synthesize("--help")) > 48_000 * 2 * 0.2


def test_synthesis_cache_is_bounded():
    from voicebot import Synthesizer
    s = Synthesizer(cache_entries=2)
    for text in ("one", "two", "three"):
        s.synthesize(text)
    s.synthesize("one")
    assert s.misses == 4 and s.hits == 0

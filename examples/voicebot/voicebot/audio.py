"""PCM formats and conversions: WebRTC audio (48 kHz av.AudioFrames of any layout/format)
to the recogniser's 16 kHz mono s16, and WAV/PCM buffers to 48 kHz mono s16 for playback.

PCM here is always bytes of signed 16-bit little-endian mono samples."""

from __future__ import annotations

import struct
from typing import List, Optional, Tuple

import av
import numpy as np

WEBRTC_RATE = 48_000      # what aiortc sends and receives
RECOGNIZER_RATE = 16_000  # what the PocketSphinx en-us model was trained on
SAMPLE_BYTES = 2          # s16


def duration_s(pcm: bytes, rate: int) -> float:
    """How long mono s16 PCM lasts at `rate`."""
    return len(pcm) / SAMPLE_BYTES / rate


def _frame_bytes(frame: "av.AudioFrame") -> bytes:
    # A plane may be padded past the samples: keep only the samples (mono s16, packed).
    return bytes(frame.planes[0])[: frame.samples * SAMPLE_BYTES]


class FrameResampler:
    """Converts one stream of av.AudioFrames (any rate, layout, sample format) to mono s16
    PCM at `rate`. Keep one per incoming track: the resampler's filter keeps state between
    frames. When the input format changes mid-stream (a renegotiated codec), the old filter
    is flushed and a new one starts."""

    def __init__(self, rate: int = RECOGNIZER_RATE) -> None:
        self.rate = rate
        self._resampler: Optional[av.AudioResampler] = None
        self._input: Optional[Tuple[str, str, int]] = None

    def convert(self, frame: "av.AudioFrame") -> bytes:
        """The PCM for `frame` (may be empty or hold samples of earlier frames: the filter
        delays a few milliseconds)."""
        shape = (frame.format.name, frame.layout.name, frame.sample_rate)
        out = b""
        if shape != self._input:
            out = self.flush()
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self.rate)
            self._input = shape
        # The filter graph would insert silence or drop samples to follow pts; the caller's
        # stream is continuous, so let it count samples instead.
        frame.pts = None
        assert self._resampler is not None
        return out + b"".join(_frame_bytes(f) for f in self._resampler.resample(frame))

    def flush(self) -> bytes:
        """The samples still in the filter (end of stream)."""
        if self._resampler is None:
            return b""
        out = b"".join(_frame_bytes(f) for f in self._resampler.resample(None))
        self._resampler = None
        self._input = None
        return out


def frame_from_pcm(pcm: bytes, rate: int, channels: int = 1) -> "av.AudioFrame":
    """An s16 av.AudioFrame holding interleaved PCM."""
    samples = np.frombuffer(pcm, dtype=np.int16)
    layout = {1: "mono", 2: "stereo"}[channels]
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    return frame


def resample_pcm(pcm: bytes, rate_in: int, rate_out: int, channels: int = 1) -> bytes:
    """A whole interleaved s16 buffer at rate_in to mono s16 at rate_out."""
    if not pcm:
        return b""
    resampler = FrameResampler(rate_out)
    return resampler.convert(frame_from_pcm(pcm, rate_in, channels)) + resampler.flush()


def parse_wav(data: bytes) -> Tuple[int, int, bytes]:
    """(rate, channels, interleaved s16 PCM) of a 16-bit PCM WAV. Streamed WAVs (espeak-ng
    --stdout) carry placeholder sizes: the data chunk runs to the end of the buffer."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, fmt = 12, None
    while pos + 8 <= len(data):
        chunk, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = pos + 8
        if chunk == b"fmt ":
            tag, channels, rate = struct.unpack("<HHI", data[body:body + 8])
            bits = struct.unpack("<H", data[body + 14:body + 16])[0]
            if tag != 1 or bits != 16:
                raise ValueError(f"WAV is not 16-bit PCM (format {tag}, {bits} bits)")
            fmt = (rate, channels)
        elif chunk == b"data":
            if fmt is None:
                raise ValueError("WAV data before its fmt chunk")
            pcm = data[body:body + size] if body + size <= len(data) else data[body:]
            frame_bytes = SAMPLE_BYTES * fmt[1]
            return fmt[0], fmt[1], pcm[: len(pcm) // frame_bytes * frame_bytes]
        pos = body + size + (size & 1)
    raise ValueError("WAV without a data chunk")


def make_wav(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """A 16-bit PCM WAV file of interleaved s16 PCM."""
    block = SAMPLE_BYTES * channels
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16,
                         1, channels, rate, rate * block, block, 16, b"data", len(pcm))
    return header + pcm


def split(pcm: bytes, chunk_samples: int) -> List[bytes]:
    """PCM cut into chunks of chunk_samples (the last may be shorter)."""
    step = chunk_samples * SAMPLE_BYTES
    return [pcm[i:i + step] for i in range(0, len(pcm), step)]

"""Reading recordings for recognition: checks, per-channel blocks, resampling to the model's rate.

Everything streams in blocks, so memory does not grow with the length of a call. Errors are
InvalidArgument with a reason a person understands.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import numpy as np

from helpline_common.audio import AudioInfo, probe
from helpline_common.errors import InvalidArgument


def check(path: str | os.PathLike, max_channels: int = 2, max_seconds: float | None = None) -> AudioInfo:
    """Check a recording before any decoding (the shared header check); raises InvalidArgument."""
    return probe(path, max_channels=max_channels, max_seconds=max_seconds)


class StreamResampler:
    """Polyphase resampling of a stream in blocks, equal to resampling the whole signal at once.

    Each block is resampled with `context` input samples of history and look-ahead (a multiple of the
    decimation factor, longer than the filter), and only the samples that do not depend on the edges
    are kept.
    """

    def __init__(self, src_rate: int, dst_rate: int):
        g = math.gcd(src_rate, dst_rate)
        self.up, self.down = dst_rate // g, src_rate // g
        half_len_in = 10 * max(self.up, self.down) / self.up  # scipy's default filter, in input samples
        self.context = self.down * math.ceil((half_len_in + 16) / self.down)
        self._buf = np.zeros(0, dtype=np.float32)
        self._buf_start = 0  # global input index of _buf[0]
        self._next = 0  # next input index (multiple of down) whose output is still to be produced

    @property
    def passthrough(self) -> bool:
        return self.up == self.down == 1

    def _resample(self, lo: int, hi: int) -> np.ndarray:
        from scipy.signal import resample_poly

        seg = self._buf[lo - self._buf_start:hi - self._buf_start]
        return resample_poly(seg, self.up, self.down).astype(np.float32, copy=False)

    def feed(self, x: np.ndarray) -> np.ndarray:
        if self.passthrough:
            return x
        self._buf = np.concatenate([self._buf, x.astype(np.float32, copy=False)])
        end = self._buf_start + len(self._buf)
        b = ((end - self.context) // self.down) * self.down
        if b <= self._next:
            return np.zeros(0, dtype=np.float32)
        a = self._next
        lo = max(self._buf_start, a - self.context)
        y = self._resample(lo, b + self.context)
        off = (a - lo) * self.up // self.down
        out = y[off:off + (b - a) * self.up // self.down]
        self._next = b
        keep_from = max(self._buf_start, b - self.context)
        self._buf = self._buf[keep_from - self._buf_start:]
        self._buf_start = keep_from
        return out

    def flush(self) -> np.ndarray:
        if self.passthrough or self._buf_start + len(self._buf) <= self._next:
            return np.zeros(0, dtype=np.float32)
        a = self._next
        lo = max(self._buf_start, a - self.context)
        y = self._resample(lo, self._buf_start + len(self._buf))
        self._next = self._buf_start + len(self._buf)
        return y[(a - lo) * self.up // self.down:]


def to_int16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767.0).astype(np.int16)


def iter_channel(path: str | os.PathLike, channel: int | None, rate: int,
                 block_s: float = 10.0) -> Iterator[np.ndarray]:
    """16-bit samples of one channel (None: the mean of all channels) at `rate`, in blocks."""
    import soundfile

    try:
        with soundfile.SoundFile(str(path)) as f:
            resampler = StreamResampler(int(f.samplerate), rate)
            frames = max(1, int(block_s * f.samplerate))
            while True:
                block = f.read(frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                mono = block.mean(axis=1) if channel is None else block[:, channel]
                out = resampler.feed(np.ascontiguousarray(mono))
                if len(out):
                    yield to_int16(out)
            tail = resampler.flush()
            if len(tail):
                yield to_int16(tail)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise InvalidArgument("audio could not be decoded (corrupt or truncated)") from exc

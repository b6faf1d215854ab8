"""Voice activity detection: only speech (with a little padding) goes to the decoder.

In a stereo call each channel is silent while the other side speaks, so about half of every channel
is never decoded. The gate reports where each piece of speech sits in the call, so that word times
from a decoder fed only speech can be put back on the call's clock (`TimeMap`).
"""

from __future__ import annotations

import bisect
import collections
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

VAD_RATES = (8000, 16000, 32000, 48000)
FRAME_MS = 30


@dataclass
class Piece:
    """Samples to decode and where they start in the call (in samples)."""

    start: int
    samples: np.ndarray


class SpeechGate:
    """Streams speech regions out of a stream of samples, with pre-roll and hang-over padding.

    A region opens when `trigger` of the last `window` frames are speech (the frames of the window are
    included, so word onsets are kept) and closes after `hangover_ms` of non-speech.
    """

    def __init__(self, rate: int, aggressiveness: int = 2, preroll_ms: int = 300, hangover_ms: int = 450,
                 trigger: int = 2, window: int = 3):
        import webrtcvad

        if rate not in VAD_RATES:
            raise ValueError(f"VAD needs one of {VAD_RATES} Hz")
        self.rate = rate
        self.vad = webrtcvad.Vad(aggressiveness)
        self.frame = rate * FRAME_MS // 1000
        self.preroll = max(window, preroll_ms // FRAME_MS)
        self.hangover = max(1, hangover_ms // FRAME_MS)
        self.trigger, self.window = trigger, window
        self._pending = np.zeros(0, dtype=np.int16)
        self._pos = 0  # call sample index of _pending[0]
        self._ring: collections.deque[tuple[int, np.ndarray, bool]] = collections.deque(maxlen=self.preroll)
        self._in_speech = False
        self._silent_run = 0
        self.total_samples = 0
        self.speech_samples = 0

    def _frames(self, x: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        buf = np.concatenate([self._pending, x]) if len(self._pending) else x
        n = len(buf) // self.frame
        for i in range(n):
            yield self._pos + i * self.frame, buf[i * self.frame:(i + 1) * self.frame]
        self._pending = buf[n * self.frame:].copy()
        self._pos += n * self.frame

    def feed(self, x: np.ndarray) -> list[Piece]:
        self.total_samples += len(x)
        out: list[Piece] = []
        for start, frame in self._frames(x):
            speech = self.vad.is_speech(frame.tobytes(), self.rate)
            if self._in_speech:
                out.append(Piece(start, frame))
                self._silent_run = 0 if speech else self._silent_run + 1
                if self._silent_run >= self.hangover:
                    self._in_speech = False
                    self._ring.clear()
                continue
            self._ring.append((start, frame, speech))
            recent = list(self._ring)[-self.window:]
            if sum(s for _, _, s in recent) >= self.trigger:
                self._in_speech, self._silent_run = True, 0
                out.extend(Piece(s, f) for s, f, _ in self._ring)
                self._ring.clear()
        self.speech_samples += sum(len(p.samples) for p in out)
        return out

    def flush(self) -> list[Piece]:
        """The partial last frame, if a region is open."""
        tail, self._pending = self._pending, np.zeros(0, dtype=np.int16)
        if self._in_speech and len(tail):
            self.speech_samples += len(tail)
            return [Piece(self._pos, tail)]
        return []

    @property
    def skipped_share(self) -> float:
        return 1.0 - self.speech_samples / self.total_samples if self.total_samples else 0.0


class PassGate:
    """No VAD: everything is decoded (models at rates webrtcvad does not support, or VAD switched off)."""

    def __init__(self):
        self._pos = 0
        self.total_samples = self.speech_samples = 0

    def feed(self, x: np.ndarray) -> list[Piece]:
        piece = Piece(self._pos, x)
        self._pos += len(x)
        self.total_samples += len(x)
        self.speech_samples += len(x)
        return [piece]

    def flush(self) -> list[Piece]:
        return []

    skipped_share = 0.0


@dataclass
class TimeMap:
    """Maps decoder time (seconds of audio fed) to call time, for a decoder fed only some pieces."""

    rate: int
    fed: list[int] = field(default_factory=list)  # decoder sample index where each contiguous run starts
    call: list[int] = field(default_factory=list)  # call sample index of the same point
    ends: list[int] = field(default_factory=list)  # decoder sample index where each run ends
    fed_total: int = 0

    def add(self, pieces: Iterable[Piece]) -> None:
        for p in pieces:
            n = len(p.samples)
            if self.fed and self.call[-1] + (self.fed_total - self.fed[-1]) == p.start:
                self.ends[-1] += n  # continues the current run
            else:
                self.fed.append(self.fed_total)
                self.call.append(p.start)
                self.ends.append(self.fed_total + n)
            self.fed_total += n

    def _run(self, t: float) -> int:
        return max(0, bisect.bisect_right(self.fed, int(round(t * self.rate))) - 1)

    def word(self, start: float, end: float) -> tuple[float, float]:
        """Call times of a word the decoder placed at [start, end) of the audio it was fed."""
        if not self.fed:
            return start, end
        i = self._run(start)
        offset = (self.call[i] - self.fed[i]) / self.rate
        run_end = self.ends[i] / self.rate
        return start + offset, max(start, min(end, run_end)) + offset

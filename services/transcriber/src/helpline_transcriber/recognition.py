"""Decoding one channel with Vosk: a pool of warm recognizers, VAD-fed, times on the call's clock.

A new KaldiRecognizer spends about two CPU-seconds warming up (its lazily composed decoding graph
fills its cache on the first audio), so recognizers are kept and reset between requests instead of
being created per request. Vosk releases the GIL while decoding, so channels decode in parallel in
threads (bench/README.md shows the measurement).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from helpline_transcriber.vad import VAD_RATES, PassGate, SpeechGate, TimeMap

log = logging.getLogger(__name__)

FEED_SAMPLES_S = 0.5  # seconds of audio per AcceptWaveform call
# A speech region that starts at least this long after the previous one ended (in call time) starts a
# new utterance: the recognizer is finalized first, so that no word straddles the join of two regions
# that were far apart in the call. Measured CPU-neutral (bench/README.md); joins closer than this
# (a short pause bridged by pre-roll and hang-over) are left to Kaldi's own endpointing.
FINALIZE_GAP_S = 0.5


@dataclass(frozen=True)
class Word:
    word: str
    start: float
    end: float
    conf: float


class WarmRecognizer:
    """A KaldiRecognizer plus how much audio it has been fed since it was created.

    Vosk keeps counting time across Reset(), so word times of a request are relative to `fed_samples`
    at the request's start.
    """

    def __init__(self, vosk_model, rate: int):
        import vosk

        self.rate = rate
        self.rec = vosk.KaldiRecognizer(vosk_model, float(rate))
        self.rec.SetWords(True)
        self.fed_samples = 0

    def accept(self, samples: np.ndarray) -> dict | None:
        self.fed_samples += len(samples)
        if self.rec.AcceptWaveform(samples.tobytes()):
            return json.loads(self.rec.Result())
        return None

    def final(self) -> dict:
        return json.loads(self.rec.FinalResult())

    def reset(self) -> None:
        self.rec.Reset()


class RecognizerPool:
    """Up to `size` warm recognizers shared by all requests of a process."""

    def __init__(self, vosk_model, rate: int, size: int):
        self.vosk_model, self.rate, self.size = vosk_model, rate, size
        self._idle: list[WarmRecognizer] = []
        self._created = 0
        self._lock = threading.Condition()

    def acquire(self) -> WarmRecognizer:
        with self._lock:
            while not self._idle and self._created >= self.size:
                self._lock.wait()  # only when callers exceed the admitted streams; see Transcriber
            if self._idle:
                return self._idle.pop()
            self._created += 1
        try:
            return WarmRecognizer(self.vosk_model, self.rate)
        except Exception:
            with self._lock:
                self._created -= 1
                self._lock.notify()
            raise

    def release(self, rec: WarmRecognizer, healthy: bool = True) -> None:
        with self._lock:
            if healthy:
                self._idle.append(rec)
            else:
                self._created -= 1
            self._lock.notify()

    def warm_up(self, count: int, seconds: float = 3.0) -> None:
        """Create `count` recognizers and run them on synthetic voiced audio, so the first calls are fast."""
        t = np.arange(int(seconds * self.rate)) / self.rate
        f0 = 120 + 30 * np.sin(2 * np.pi * 0.7 * t)
        voiced = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / self.rate) / k for k in range(1, 20))
        samples = (voiced / np.max(np.abs(voiced)) * 8000).astype(np.int16)
        recs = [self.acquire() for _ in range(count)]
        try:
            for rec in recs:
                rec.accept(samples)
                rec.final()
                rec.reset()
        finally:
            for rec in recs:
                self.release(rec)


@dataclass
class ChannelResult:
    words: list[Word]
    total_s: float
    speech_s: float

    @property
    def skipped_share(self) -> float:
        return 1.0 - self.speech_s / self.total_s if self.total_s else 0.0


def _words(result: dict, base_s: float, timemap: TimeMap) -> list[Word]:
    out = []
    for w in result.get("result", ()):
        start, end = timemap.word(w["start"] - base_s, w["end"] - base_s)
        out.append(Word(w["word"], round(start, 3), round(end, 3), round(float(w.get("conf", 0.0)), 4)))
    return out


def decode_channel(pool: RecognizerPool, blocks: Iterable[np.ndarray], *, vad_aggressiveness: int | None,
                   should_stop: Callable[[], None]) -> ChannelResult:
    """Decode one channel; `should_stop` raises to abandon the work (cancellation, deadline)."""
    rate = pool.rate
    gate = SpeechGate(rate, vad_aggressiveness) if vad_aggressiveness is not None and rate in VAD_RATES \
        else PassGate()
    timemap = TimeMap(rate)
    rec = pool.acquire()
    healthy = False
    base_s = rec.fed_samples / rate
    words: list[Word] = []
    chunk: list[np.ndarray] = []
    chunk_len = 0
    feed_n = int(FEED_SAMPLES_S * rate)
    gap_n = int(FINALIZE_GAP_S * rate)
    region_end = None  # call sample index where the last piece fed ended

    def feed_chunk():
        nonlocal chunk, chunk_len
        if chunk:
            should_stop()
            result = rec.accept(np.concatenate(chunk))
            if result is not None:
                words.extend(_words(result, base_s, timemap))
        chunk, chunk_len = [], 0

    try:
        for block in blocks:
            should_stop()
            pieces = gate.feed(block)
            timemap.add(pieces)
            for p in pieces:
                if region_end is not None and p.start - region_end >= gap_n:
                    feed_chunk()
                    words.extend(_words(rec.final(), base_s, timemap))
                region_end = p.start + len(p.samples)
                chunk.append(p.samples)
                chunk_len += len(p.samples)
                if chunk_len >= feed_n:
                    feed_chunk()
        pieces = gate.flush()
        timemap.add(pieces)
        chunk.extend(p.samples for p in pieces)
        feed_chunk()
        words.extend(_words(rec.final(), base_s, timemap))
        rec.reset()
        healthy = True
    finally:
        if not healthy:
            try:
                rec.final()
                rec.reset()
                healthy = True
            except Exception:  # noqa: BLE001 - a broken recognizer is dropped, not reused
                log.warning("recognizer dropped after a failure")
        pool.release(rec, healthy)
    return ChannelResult(words, gate.total_samples / rate, gate.speech_samples / rate)

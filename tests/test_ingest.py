"""Gateway ingest end to end: real gateway on port 0, real S3 server, real audio."""

from __future__ import annotations

import datetime as dt
import io
import wave

import grpc
import numpy as np
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpline.common.v1 import recording_pb2
from helpline.gateway.v1 import gateway_pb2, gateway_service_pb2_grpc
from helpline_common import devstore
from helpline_common.auth import Role
from helpline_common.storage import ObjectStore
from helpline_gateway.service import create_server
from helpline_gateway.settings import GatewaySettings
from tests.conftest import SIGNING_KEY, bearer, running

STEREO = recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST


def wav_bytes(seconds: float = 3.0, channels: int = 2, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    frames = np.repeat(tone[:, None], channels, axis=1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames.tobytes())
    return buf.getvalue()


def metadata(call_id="call-1", region="77", seconds=3.0, consent=True, anonymized=True, layout=STEREO,
             start: dt.datetime | None = None) -> recording_pb2.RecordingMetadata:
    start = start or dt.datetime(2026, 11, 27, 14, 30, tzinfo=dt.UTC)
    return recording_pb2.RecordingMetadata(
        call_id=call_id, region_code=region, call_start=timestamp_pb2.Timestamp(seconds=int(start.timestamp())),
        duration=duration_pb2.Duration(seconds=int(seconds), nanos=int((seconds % 1) * 1e9)),
        consent=consent, anonymized=anonymized, channel_layout=layout, counselor_pseudonym="c-017")


def upload(meta, audio: bytes, chunk: int = 4096):
    yield gateway_pb2.IngestRecordingRequest(metadata=meta)
    for i in range(0, len(audio), chunk):
        yield gateway_pb2.IngestRecordingRequest(audio_chunk=audio[i:i + chunk])


@pytest.fixture()
def gateway(store_settings):
    settings = GatewaySettings(port=0, metrics_port=-1, token_signing_key=SIGNING_KEY)
    with running(create_server, settings) as (_service, channel):
        yield gateway_service_pb2_grpc.GatewayServiceStub(channel), ObjectStore(store_settings)


UPLOADER = bearer(Role.UPLOADER, "77")


def test_recording_is_stored_with_its_metadata(gateway):
    stub, store = gateway
    audio = wav_bytes()
    answer = stub.IngestRecording(upload(metadata(), audio), metadata=UPLOADER, timeout=10)
    key = answer.recording.ref.object_key
    assert key == "recordings/77/2026/11/27/call-1.wav"
    assert not answer.already_present
    assert answer.recording.format.channels == 2 and answer.recording.format.sample_rate_hz == 8000
    assert abs(answer.recording.audio_duration.ToTimedelta().total_seconds() - 3.0) < 0.01
    assert store.get_bytes(key) == audio
    assert store.get_json("recordings/77/2026/11/27/call-1.json")["ref"]["sha256"] == answer.recording.ref.sha256

    again = stub.IngestRecording(upload(metadata(), audio), metadata=UPLOADER, timeout=10)
    assert again.already_present and again.recording.ref.sha256 == answer.recording.ref.sha256

    with pytest.raises(grpc.RpcError) as err:
        stub.IngestRecording(upload(metadata(), wav_bytes(seconds=3.2)), metadata=UPLOADER, timeout=10)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


@pytest.mark.parametrize("meta, audio, code, reason", [
    (metadata(consent=False), wav_bytes(), grpc.StatusCode.FAILED_PRECONDITION, "consent"),
    (metadata(anonymized=False), wav_bytes(), grpc.StatusCode.FAILED_PRECONDITION, "anonymized"),
    (metadata(region="99"), wav_bytes(), grpc.StatusCode.INVALID_ARGUMENT, "unknown region"),
    (metadata(), b"RIFF\x00\x00garbage that is not audio" * 50, grpc.StatusCode.INVALID_ARGUMENT, "audio"),
    (metadata(), b"", grpc.StatusCode.INVALID_ARGUMENT, "no audio"),
    (metadata(), wav_bytes(channels=1), grpc.StatusCode.INVALID_ARGUMENT, "stereo"),
    (metadata(seconds=60), wav_bytes(), grpc.StatusCode.INVALID_ARGUMENT, "declared duration"),
    (metadata(seconds=0), wav_bytes(), grpc.StatusCode.INVALID_ARGUMENT, "duration"),
    (metadata(call_id="../etc"), wav_bytes(), grpc.StatusCode.INVALID_ARGUMENT, "call_id"),
    (metadata(layout=recording_pb2.CHANNEL_LAYOUT_UNSPECIFIED), wav_bytes(), grpc.StatusCode.INVALID_ARGUMENT,
     "channel_layout"),
    (metadata(start=dt.datetime.now(dt.UTC) + dt.timedelta(days=1)), wav_bytes(),
     grpc.StatusCode.INVALID_ARGUMENT, "future"),
])
def test_bad_uploads_are_refused_and_leave_nothing(gateway, meta, audio, code, reason):
    stub, store = gateway
    with pytest.raises(grpc.RpcError) as err:
        stub.IngestRecording(upload(meta, audio), metadata=UPLOADER, timeout=10)
    assert err.value.code() == code
    assert reason in err.value.details()
    assert store.list_keys("recordings/") == []


def test_malformed_streams_are_invalid(gateway):
    stub, store = gateway
    audio_first = iter([gateway_pb2.IngestRecordingRequest(audio_chunk=b"RIFF")])
    with pytest.raises(grpc.RpcError) as err:
        stub.IngestRecording(audio_first, metadata=UPLOADER, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    two_metadata = iter([gateway_pb2.IngestRecordingRequest(metadata=metadata())] * 2)
    with pytest.raises(grpc.RpcError) as err:
        stub.IngestRecording(two_metadata, metadata=UPLOADER, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert store.list_keys("recordings/") == []


@pytest.mark.parametrize("auth, code", [
    (None, grpc.StatusCode.UNAUTHENTICATED),
    ([("authorization", "Bearer not-a-token")], grpc.StatusCode.UNAUTHENTICATED),
    (bearer(Role.UPLOADER, "78"), grpc.StatusCode.PERMISSION_DENIED),
    (bearer(Role.REVIEWER), grpc.StatusCode.PERMISSION_DENIED),
])
def test_only_the_regions_uploader_may_ingest(gateway, auth, code):
    stub, store = gateway
    with pytest.raises(grpc.RpcError) as err:
        stub.IngestRecording(upload(metadata(), wav_bytes()), metadata=auth, timeout=10)
    assert err.value.code() == code
    assert store.list_keys("recordings/") == []


def test_store_down_is_unavailable_and_not_serving(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("HELPLINE_S3_ENDPOINT", f"127.0.0.1:{devstore.free_port()}")
    monkeypatch.setenv("HELPLINE_S3_RETRIES", "0")
    settings = GatewaySettings(port=0, metrics_port=-1, token_signing_key=SIGNING_KEY)
    with running(create_server, settings, wait=False) as (_service, channel):
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            stub.IngestRecording(upload(metadata(), wav_bytes()), metadata=UPLOADER, timeout=20)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        health = health_pb2_grpc.HealthStub(channel)
        assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == \
            health_pb2.HealthCheckResponse.NOT_SERVING

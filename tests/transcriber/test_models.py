"""Speech models: archives in the store checked by SHA-256, unpacked once; wrong hashes and unsafe archives refused."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2_grpc
from helpline_common.storage import ObjectStore
from helpline_transcriber import models
from helpline_transcriber.service import create_server
from helpline_transcriber.settings import TranscriberSettings
from tests.conftest import running


def zip_dir(src: Path, dest: Path, folder: str) -> Path:
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_STORED) as zf:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                zf.write(path, f"{folder}/{path.relative_to(src).as_posix()}")
    return dest


@pytest.fixture(scope="module")
def korean_zip(tmp_path_factory, vosk_test_model_dir) -> Path:
    """An archive laid out like the official ones (one top folder), built from the Korean model."""
    return zip_dir(vosk_test_model_dir, tmp_path_factory.mktemp("zip") / "vosk-model-small-ko-test.zip",
                   "vosk-model-small-ko-test")


def test_import_then_load_from_the_store(store_settings, korean_zip, tmp_path):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    key, sha256 = models.import_archive(store, korean_zip, lang="ko")
    assert key == "models/vosk/vosk-model-small-ko-test.zip"
    assert sha256 == hashlib.sha256(korean_zip.read_bytes()).hexdigest()
    assert store.stat(key).metadata["sha256"] == sha256
    model_dir = models.fetch_from_store(store, key, sha256, tmp_path / "cache")
    model = models.from_directory(model_dir)
    assert (model.name, model.lang, model.sample_rate, model.sha256) == ("vosk-model-small-ko-test", "ko", 16000,
                                                                         sha256)
    assert (model_dir / "am" / "final.mdl").exists()
    # unpacked once: a second fetch does not download again (works with the store unreachable)
    assert models.fetch_from_store(None, key, sha256, tmp_path / "cache") == model_dir


def test_wrong_hash_is_refused_and_nothing_is_cached(store_settings, tmp_path):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    archive = tmp_path / "fake.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("vosk-model-x/am/final.mdl", b"not really")
        zf.writestr("vosk-model-x/conf/mfcc.conf", b"--sample-frequency=8000\n")
    key, _sha = models.import_archive(store, archive)
    with pytest.raises(models.ModelError, match="expected"):
        models.fetch_from_store(store, key, "0" * 64, tmp_path / "cache")
    assert not any((tmp_path / "cache").iterdir())


def test_service_with_a_wrong_hash_stays_not_serving(store_settings, tmp_path):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    archive = tmp_path / "m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/am/final.mdl", b"x")
        zf.writestr("m/conf/mfcc.conf", b"")
    key, _sha = models.import_archive(store, archive, name="m")
    settings = TranscriberSettings(port=0, metrics_port=-1, model_object=key, model_sha256="1" * 64,
                                   model_cache_dir=tmp_path / "cache", store=store_settings)
    with running(create_server, settings, wait=False) as (service, channel):
        health = health_pb2_grpc.HealthStub(channel)
        stub = transcriber_service_pb2_grpc.TranscriberServiceStub(channel)
        for _ in range(100):  # bounded: until the readiness loop has tried once
            if service.servicer._fatal:
                break
            service._stopping.wait(0.05)
        assert "SHA-256" in service.servicer._fatal
        status = health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.NOT_SERVING
        with pytest.raises(grpc.RpcError) as err:
            stub.GetModelInfo(transcriber_pb2.GetModelInfoRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE and "expected" in err.value.details()


@pytest.mark.parametrize("entries,reason", [
    ({"../evil/am/final.mdl": b"x"}, "unsafe path"),
    ({"/abs/am/final.mdl": b"x"}, "unsafe path"),
    ({"readme.txt": b"x"}, "exactly one Vosk model"),
    ({"a/am/final.mdl": b"x", "b/am/final.mdl": b"x"}, "exactly one Vosk model"),
])
def test_unsafe_or_odd_archives_are_refused(tmp_path, entries, reason):
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    with pytest.raises(models.ModelError, match=reason):
        models.check_archive(archive)
    (tmp_path / "y.zip").write_bytes(b"not a zip")
    with pytest.raises(models.ModelError, match="not a zip"):
        models.check_archive(tmp_path / "y.zip")


def test_cli_import_prints_the_settings(store_settings, tmp_path):
    from typer.testing import CliRunner

    from helpline_common.cli import _register_service_commands, app

    archive = tmp_path / "vosk-model-small-ru-test.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("vosk-model-small-ru-test/am/final.mdl", b"x")
        zf.writestr("vosk-model-small-ru-test/conf/mfcc.conf", b"")
    if not any(g.name == "models" for g in app.registered_groups):
        _register_service_commands()
    result = CliRunner().invoke(app, ["models", "import-vosk", str(archive), "--lang", "ru"])
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert "HELPLINE_TRANSCRIBER_MODEL_OBJECT=models/vosk/vosk-model-small-ru-test.zip" in result.output
    assert f"HELPLINE_TRANSCRIBER_MODEL_SHA256={sha}" in result.output
    result = CliRunner().invoke(app, ["models", "fetch-vosk", "vosk-model-unknown"])
    assert result.exit_code != 0


def test_cli_fetch_checks_its_inputs_before_downloading(monkeypatch):
    from typer.testing import CliRunner

    from helpline_common.cli import _register_service_commands, app

    if not any(g.name == "models" for g in app.registered_groups):
        _register_service_commands()
    result = CliRunner().invoke(app, ["models", "fetch-vosk", "vosk-model-small-ru-0.22", "--sha256", "abc"])
    assert result.exit_code == 2 and "64 hexadecimal digits" in result.output
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    result = CliRunner().invoke(app, ["models", "fetch-vosk", "vosk-model-small-ru-0.22", "--sha256", "a" * 64])
    assert result.exit_code == 2 and "AWS_ACCESS_KEY_ID" in result.output and "downloading" not in result.output

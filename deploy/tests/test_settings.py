"""Every environment variable the manifests set is one the code reads (settings ignore unknown names,
so a typo would silently fall back to a default). Read from the source with `ast`: the deploy tools'
virtualenv does not install the services."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import crossref
import pytest
from conftest import DEPLOY, OVERLAYS, ROOT

PREFIXES = {"StoreSettings": "HELPLINE_S3_", "ServerSettings": None, "TranscriberSettings": "HELPLINE_TRANSCRIBER_",
            "ScorerSettings": "HELPLINE_SCORER_", "GatewaySettings": "HELPLINE_GATEWAY_"}
SERVICE_PREFIXES = ("HELPLINE_TRANSCRIBER_", "HELPLINE_SCORER_", "HELPLINE_GATEWAY_")
SHA_PLACEHOLDER = "REPLACE_WITH_THE_SHA256_PRINTED_BY_THE_MODEL_IMPORT_JOB"


def _sources() -> list[Path]:
    generated = ROOT / "common" / "src" / "helpline"
    return [p for base in (ROOT / "common" / "src", ROOT / "services") for p in base.rglob("*.py")
            if "build" not in p.parts and "tests" not in p.parts and not p.is_relative_to(generated)]


def known_variables() -> set[str]:
    """Names the code reads: settings fields with their prefix, and HELPLINE_* / AWS_* literals."""
    fields: dict[str, set[str]] = {}
    literals: set[str] = set()
    for path in _sources():
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in PREFIXES:
                fields.setdefault(node.name, set()).update(
                    s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name))
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"(HELPLINE|AWS)_[A-Z0-9_]+", node.value):
                literals.add(node.value)
    if not {"StoreSettings", "ServerSettings"} <= set(fields):
        pytest.skip("the settings classes are not in common/src (yet)")
    names = set(literals)
    names |= {f"HELPLINE_S3_{f.upper()}" for f in fields["StoreSettings"]}
    for cls, prefix in PREFIXES.items():
        if prefix and prefix != "HELPLINE_S3_":
            names |= {f"{prefix}{f.upper()}" for f in fields.get(cls, set()) | fields["ServerSettings"]}
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_manifest_variables_are_read_by_the_code(rendered, overlay):
    known = known_variables()
    unknown = set()
    for pod in crossref.pods(rendered[overlay]):
        if pod.labels.get("app.kubernetes.io/name") == "minio":
            continue  # MinIO's own variables
        for c in pod.containers():
            names = {e["name"] for e in c.get("env") or []}
            for src in c.get("envFrom") or []:
                cm = crossref.find(rendered[overlay], "ConfigMap", (src.get("configMapRef") or {}).get("name", ""),
                                   pod.namespace)
                names |= set((cm or {}).get("data") or {})
            unknown |= {n for n in names if n.startswith(("HELPLINE_", "AWS_")) and n not in known}
    assert not unknown, f"set in the manifests but read by no code: {sorted(unknown)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_model_hash_is_a_hash_or_the_documented_placeholder(overlay):
    env = dict(line.split("=", 1) for line in (DEPLOY / "k8s" / "overlays" / overlay / "transcriber-model.env")
               .read_text(encoding="utf-8").splitlines() if line and not line.startswith("#"))
    value = env["HELPLINE_TRANSCRIBER_MODEL_SHA256"]
    assert value == SHA_PLACEHOLDER or re.fullmatch(r"[0-9a-f]{64}", value), value
    assert env["HELPLINE_TRANSCRIBER_MODEL_OBJECT"].startswith("models/vosk/")


def test_a_misspelt_variable_is_caught(rendered):
    known = known_variables()
    assert "HELPLINE_GATEWAY_AUDIT_PARALLELISM" in known
    assert "HELPLINE_GATEWAY_AUDIT_PARALELLISM" not in known
    assert "HELPLINE_TRANSCRIBER_MAX_CONCURRENT_STREAMS" in known

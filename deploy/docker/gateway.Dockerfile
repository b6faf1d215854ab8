# syntax=docker/dockerfile:1
# Helpline QA gateway (authentication, sampling, audits, reports). Build context = repository root:
#   docker build -f deploy/docker/gateway.Dockerfile -t helpline-qa/gateway:0.1.0 .
# The same image runs the nightly sampling CronJob (python -m helpline_gateway.nightly) and the
# operator CLI `helpline-qa` (e.g. the model import Job). See deploy/README.md.

# --- stage 1: generated gRPC code (grpcio-tools lives only here) --------------------------------
FROM python:3.11.14-slim-bookworm AS stubs
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY requirements/constraints.txt requirements/constraints.txt
# grpcio-tools is pinned by requirements/constraints.txt (same protobuf as the runtime).
# hadolint ignore=DL3013
RUN pip install --no-cache-dir --disable-pip-version-check -c requirements/constraints.txt grpcio-tools
COPY protos protos
# Same command as `make proto`.
RUN mkdir -p common/src \
 && find protos -name '*.proto' -print0 | sort -z \
    | xargs -0 python -m grpc_tools.protoc -I protos --python_out=common/src \
        --grpc_python_out=common/src --pyi_out=common/src \
 && find common/src/helpline -type d -exec touch {}/__init__.py \;

# --- stage 2: a virtualenv with this service's dependencies only ---------------------------------
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
# Pins and package metadata first: the dependency layer is rebuilt only when they change.
COPY requirements/constraints.txt requirements/constraints.txt
COPY common/pyproject.toml common/pyproject.toml
COPY services/gateway/pyproject.toml services/gateway/pyproject.toml
RUN python -c 'import sys, tomllib; [print(d) for f in sys.argv[1:] for d in tomllib.load(open(f, "rb"))["project"]["dependencies"] if not d.startswith("helpline-")]' \
        common/pyproject.toml services/gateway/pyproject.toml > /tmp/requirements.txt \
 && pip install --no-cache-dir -c requirements/constraints.txt -r /tmp/requirements.txt
# Then the source, the generated code, and the two packages themselves (dependencies already met).
COPY common common
COPY services/gateway services/gateway
COPY --from=stubs /src/common/src/helpline common/src/helpline
RUN pip install --no-cache-dir -c requirements/constraints.txt ./common ./services/gateway \
 && python -c 'import importlib.util, sys; sys.exit("neither scikit-learn nor Vosk belongs in the gateway image" if importlib.util.find_spec("sklearn") or importlib.util.find_spec("vosk") else 0)'

# --- stage 3: runtime ---------------------------------------------------------------------------
FROM python:3.11.14-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HELPLINE_GATEWAY_PORT=50053 \
    HELPLINE_GATEWAY_METRICS_PORT=9103 \
    HOME=/tmp
RUN groupadd --system --gid 10001 helpline \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin helpline
COPY --from=build /opt/venv /opt/venv
# libsndfile comes inside the soundfile wheel (needs only glibc): fail the build, not the pod,
# if it cannot load.
RUN python -c 'import soundfile, helpline_gateway; print("libsndfile", soundfile.__libsndfile_version__)'
USER 10001:10001
EXPOSE 50053 9103
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
    CMD ["python", "-c", "import os, sys, grpc; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; port = os.environ.get('HELPLINE_GATEWAY_PORT', '50053'); r = g.HealthStub(grpc.insecure_channel('127.0.0.1:' + port)).Check(h.HealthCheckRequest(), timeout=3); sys.exit(0 if r.status == h.HealthCheckResponse.SERVING else 1)"]
ENTRYPOINT ["python", "-m", "helpline_gateway"]

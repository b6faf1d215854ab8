"""The whole audit on real services: ingest → sample → transcribe (real Vosk) → score (trained model) → report.

Also: a gateway restart in the middle of an audit, calls the transcriber cannot process, reuse of
transcripts and scores, and report numbers recomputed from the stored results.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import subprocess
import sys

import grpc
import pytest

from helpline.gateway.v1 import audit_pb2, gateway_pb2, gateway_service_pb2_grpc, report_pb2
from helpline_common.auth import Role
from helpline_common.storage import ObjectStore
from helpline_gateway import cli as gateway_cli
from helpline_scorer import registry
from helpline_scorer.service import create_server as create_scorer
from helpline_scorer.settings import ScorerSettings
from helpline_transcriber.service import create_server as create_transcriber
from helpline_transcriber.settings import TranscriberSettings
from scripts import demo_audio
from tests.conftest import bearer, running
from tests.gateway.conftest import gateway

DAY = dt.date.today() - dt.timedelta(days=2)
PERIOD = gateway_cli.period(dt.datetime.combine(DAY, dt.time()), None)
DIALOGUES = [
    [("counselor", "Детский телефон доверия, здравствуй. Наш разговор анонимный."),
     ("caller", "Мне очень плохо, не хочу жить."),
     ("counselor", "Хорошо, что ты позвонил. Ты сейчас в безопасности? Бывают мысли уйти из жизни?")],
    [("counselor", "Алло."), ("caller", "Меня бьют дома."), ("counselor", "Сам виноват, наверное.")],
    [("counselor", "Телефон доверия, здравствуйте."), ("caller", "У меня экзамен завтра."),
     ("counselor", "Расскажи, что тебя тревожит? Звони нам в любое время.")],
    [("counselor", "Здравствуй, меня зовут Анна."), ("caller", "Я поссорилась с мамой."),
     ("counselor", "Тебе обидно. Кому ты можешь доверять?")],
]


@pytest.fixture(scope="module")
def scorer_model(tmp_path_factory):
    """The real model shipped with the scorer, else one trained here on the project's corpus."""
    bundled = registry.bundled_model_file()
    if bundled is not None:
        return bundled
    out = tmp_path_factory.mktemp("scorer-model")
    subprocess.run([sys.executable, "-m", "helpline_common.cli", "scorer", "train", "--no-evaluate", "--out",
                    str(out), "--version", "e2e-test"], check=True, capture_output=True)
    return out / "model.joblib"


@pytest.fixture(scope="module")
def calls(tmp_path_factory, have_speech_tools):
    folder = tmp_path_factory.mktemp("calls")
    made = []
    for i, dialogue in enumerate(DIALOGUES):
        path = folder / f"e2e-{i}.wav"
        demo_audio.build_call(dialogue, path, seed=i)
        made.append((f"e2e-{i}", path))
    return made


@pytest.fixture()
def services(store_settings, vosk_test_model_dir, scorer_model):
    with running(create_transcriber, TranscriberSettings(port=0, metrics_port=-1, model_dir=vosk_test_model_dir)) \
            as (transcriber, _), \
            running(create_scorer, ScorerSettings(port=0, metrics_port=-1, model_file=scorer_model)) as (scorer, _):
        yield f"127.0.0.1:{transcriber.port}", f"127.0.0.1:{scorer.port}"


def ingest_all(stub, calls, region="77"):
    auth = bearer(Role.UPLOADER, region)
    for i, (call_id, path) in enumerate(calls):
        meta = gateway_cli.build_metadata(path, call_id, region, dt.datetime.combine(
            DAY, dt.time(9 + 3 * i), tzinfo=dt.timezone.utc), "stereo-caller-first", f"c-{i % 2}", True, True)
        stub.IngestRecording(gateway_cli._upload(meta, path), metadata=auth, timeout=60)


def run_audit(stub, who=bearer(Role.SUPERVISOR, "77"), **plan) -> audit_pb2.Audit:
    request = gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD,
                                              sampling=audit_pb2.SamplingPlan(seed=7, **plan))
    audit = stub.RequestAudit(request, metadata=who, timeout=30).audit
    final = None
    for update in stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit.audit_id), metadata=who, timeout=600):
        final = update.audit
    return final


def test_full_audit_report_and_reuse(services, calls, store_settings):
    transcriber, scorer = services
    store = ObjectStore(store_settings)
    with gateway(transcriber, scorer) as (_service, channel):
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        ingest_all(stub, calls)
        audit = run_audit(stub, calls_per_region=10)
        assert audit.state == audit_pb2.AUDIT_STATE_SUCCEEDED
        assert (audit.progress.total_calls, audit.progress.done_calls) == (len(calls), len(calls))
        assert audit.eligible_calls["77"] == len(calls)

        supervisor = bearer(Role.SUPERVISOR, "77")
        detail = stub.GetAudit(gateway_pb2.GetAuditRequest(audit_id=audit.audit_id), metadata=supervisor, timeout=10)
        assert {c.state for c in detail.calls} == {audit_pb2.CALL_STATE_SCORED}
        one = stub.GetTranscript(gateway_pb2.GetTranscriptRequest(audit_id=audit.audit_id,
                                                                  call_id=detail.calls[0].call_id),
                                 metadata=supervisor, timeout=10)
        speakers = {s.speaker for s in one.transcript.segments}
        assert speakers <= {1, 2} and one.transcript.model.lang == "ko"
        assert one.score.protocol_version == "1.1.0" and one.score.model_version

        # Report numbers agree with a recomputation from the stored results.
        report = json.loads(stub.GetReport(gateway_pb2.GetReportRequest(
            region_code="77", period=PERIOD, format=report_pb2.REPORT_FORMAT_JSON),
            metadata=supervisor, timeout=60).content)
        stored = [store.get_json(k) for k in store.list_keys("results/77/")]
        scores = [r["score"] for r in stored]
        assert report["scored_calls"] == len(calls) == report["sampled_calls"]
        assert math.isclose(report["mean_score"]["estimate"], statistics.fmean(scores), abs_tol=1e-6)
        for criterion in report["criteria"]:
            outcomes = [r["criteria"][criterion["criterion_id"]]["outcome"] for r in stored]
            assert criterion["met_calls"] == outcomes.count("met")
            assert criterion["applicable_calls"] == outcomes.count("met") + outcomes.count("not_met")
        assert {c["counselor_pseudonym"] for c in report["counselors"]} == {"c-0", "c-1"}
        html = stub.GetReport(gateway_pb2.GetReportRequest(region_code="77", period=PERIOD,
                                                           format=report_pb2.REPORT_FORMAT_HTML),
                              metadata=supervisor, timeout=60).content.decode()
        assert "<svg" in html and "Средний балл" in html
        # the report names the models, and says the Korean test model's transcripts mean nothing here
        speech = [m for m in report["models"] if m["kind"] == "speech"]
        assert speech == [{"kind": "speech", "name": one.transcript.model.name, "lang": "ko", "calls": len(calls)}]
        assert "не для русского языка (ko)" in html
        assert len(store.list_keys("access-log/")) >= 3  # transcript, score, two report reads

        # A second audit of the same calls reuses transcripts and scores: nothing new is stored.
        transcripts_before = store.list_keys("transcripts/")
        again = run_audit(stub, calls_per_region=10)
        assert again.state == audit_pb2.AUDIT_STATE_SUCCEEDED and again.progress.done_calls == len(calls)
        assert store.list_keys("transcripts/") == transcripts_before


def test_audit_survives_restart_and_bad_calls(services, calls, store_settings):
    transcriber, scorer = services
    store = ObjectStore(store_settings)
    with gateway(transcriber, scorer, audit_parallelism=1) as (service, channel):
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        ingest_all(stub, calls)
        # One recording gets corrupted in the store after ingest: the transcriber refuses it.
        bad_key = next(k for k in store.list_keys("recordings/77/") if k.endswith(".wav"))
        store.put_bytes(bad_key, b"RIFF" + b"\x00" * 40)
        supervisor = bearer(Role.SUPERVISOR, "77")
        audit = stub.RequestAudit(gateway_pb2.RequestAuditRequest(
            region_codes=["77"], period=PERIOD, sampling=audit_pb2.SamplingPlan(seed=3, calls_per_region=10)),
            metadata=supervisor, timeout=30).audit
        for update in stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit.audit_id), metadata=supervisor,
                                      timeout=600):
            progress = update.audit.progress
            if progress.done_calls + progress.failed_calls >= 1:
                break  # stop the gateway in the middle of the audit
        service.stop(0).wait()
    with gateway(transcriber, scorer) as (_service, channel):  # a new replica takes over
        stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
        final = None
        for update in stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit.audit_id), metadata=supervisor,
                                      timeout=600):
            final = update.audit
        assert final.state == audit_pb2.AUDIT_STATE_SUCCEEDED
        assert (final.progress.done_calls, final.progress.failed_calls) == (len(calls) - 1, 1)
        detail = stub.GetAudit(gateway_pb2.GetAuditRequest(audit_id=audit.audit_id), metadata=supervisor, timeout=10)
        failed = [c for c in detail.calls if c.state == audit_pb2.CALL_STATE_FAILED]
        assert len(failed) == 1 and "INVALID_ARGUMENT" in failed[0].failure_reason
        with pytest.raises(grpc.RpcError) as err:
            stub.GetTranscript(gateway_pb2.GetTranscriptRequest(audit_id=audit.audit_id, call_id=failed[0].call_id),
                               metadata=supervisor, timeout=10)
        assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION

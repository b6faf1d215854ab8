"""Every role × RPC pair: allowed ones get past authorization, the others are refused."""

from __future__ import annotations

import datetime as dt
import time

import grpc
import pytest

from helpline.common.v1 import recording_pb2
from helpline.gateway.v1 import audit_pb2, gateway_pb2, gateway_service_pb2_grpc
from helpline_common.auth import Role, issue_token
from helpline_scorer.service import create_server as create_scorer
from helpline_scorer.settings import ScorerSettings
from tests.conftest import SIGNING_KEY, bearer, running
from tests.gateway.conftest import gateway
from tests.test_ingest import metadata, upload, wav_bytes

YESTERDAY = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
DAY = recording_pb2.Date(year=YESTERDAY.year, month=YESTERDAY.month, day=YESTERDAY.day)
PERIOD = recording_pb2.Period(first_day=DAY, last_day=DAY)
DENIED = {grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED}

TOKENS = {
    "uploader-77": bearer(Role.UPLOADER, "77"),
    "supervisor-77": bearer(Role.SUPERVISOR, "77"),
    "supervisor-78": bearer(Role.SUPERVISOR, "78"),
    "reviewer": bearer(Role.REVIEWER),
    "sampler": bearer(Role.SAMPLER),
    "admin": bearer(Role.ADMIN),
}

# RPC → the token names allowed to call it on region 77's data.
ALLOWED = {
    "IngestRecording": {"uploader-77", "admin"},
    "RequestAudit": {"supervisor-77", "sampler", "admin"},
    "GetAudit": {"supervisor-77", "reviewer", "sampler", "admin"},
    "ListAudits": {"supervisor-77", "supervisor-78", "reviewer", "sampler", "admin"},
    "CancelAudit": {"supervisor-77", "admin"},
    "WatchAudit": {"supervisor-77", "reviewer", "sampler", "admin"},
    "GetReport": {"supervisor-77", "reviewer", "admin"},
    "GetCrossRegionReport": {"reviewer", "admin"},
    "ListFlaggedCalls": {"supervisor-77", "reviewer", "admin"},
    "SubmitReview": {"supervisor-77", "admin"},
    "GetTranscript": {"supervisor-77", "admin"},
    "StartNightlySampling": {"sampler", "admin"},
}


@pytest.fixture(scope="module")
def stack(s3):
    """A real scorer (for the protocol) and a gateway; no transcriber, so audits wait, which is fine here."""
    env = s3.env() | {"HELPLINE_S3_BUCKET": "roles-test"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        with running(create_scorer, ScorerSettings(port=0, metrics_port=-1)) as (scorer, _):
            with gateway(scorer=f"127.0.0.1:{scorer.port}") as (_service, channel):
                stub = gateway_service_pb2_grpc.GatewayServiceStub(channel)
                audit = stub.RequestAudit(
                    gateway_pb2.RequestAuditRequest(
                        region_codes=["77"], period=PERIOD, sampling=audit_pb2.SamplingPlan(calls_per_region=1)
                    ),
                    metadata=TOKENS["admin"],
                    timeout=10,
                ).audit
                yield stub, audit.audit_id


def call(stub, rpc: str, audit_id: str, auth):
    if rpc == "IngestRecording":
        meta = metadata(call_id=f"roles-{abs(hash(str(auth))) % 10**8}")
        return stub.IngestRecording(upload(meta, wav_bytes()), metadata=auth, timeout=10)
    if rpc == "WatchAudit":
        return next(stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit_id), metadata=auth, timeout=10))
    if rpc == "CancelAudit":  # cancel a fresh audit each time, made by the admin
        fresh = stub.RequestAudit(
            gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD), metadata=TOKENS["admin"], timeout=10
        ).audit.audit_id
        return stub.CancelAudit(gateway_pb2.CancelAuditRequest(audit_id=fresh), metadata=auth, timeout=30)
    requests = {
        "RequestAudit": gateway_pb2.RequestAuditRequest(region_codes=["77"], period=PERIOD),
        "GetAudit": gateway_pb2.GetAuditRequest(audit_id=audit_id),
        "ListAudits": gateway_pb2.ListAuditsRequest(),
        "GetReport": gateway_pb2.GetReportRequest(region_code="77", period=PERIOD),
        "GetCrossRegionReport": gateway_pb2.GetReportRequest(region_code="", period=PERIOD),
        "ListFlaggedCalls": gateway_pb2.ListFlaggedCallsRequest(region_code="77", period=PERIOD),
        "SubmitReview": gateway_pb2.SubmitReviewRequest(audit_id=audit_id, call_id="none"),
        "GetTranscript": gateway_pb2.GetTranscriptRequest(audit_id=audit_id, call_id="none"),
        "StartNightlySampling": gateway_pb2.StartNightlySamplingRequest(date=DAY),
    }
    method = "GetReport" if rpc == "GetCrossRegionReport" else rpc
    return getattr(stub, method)(requests[rpc], metadata=auth, timeout=30)


@pytest.mark.parametrize("rpc", sorted(ALLOWED))
@pytest.mark.parametrize("who", sorted(TOKENS))
def test_role_matrix(stack, rpc, who):
    stub, audit_id = stack
    try:
        call(stub, rpc, audit_id, TOKENS[who])
        outcome = grpc.StatusCode.OK
    except grpc.RpcError as exc:
        outcome = exc.code()
    if who in ALLOWED[rpc]:
        assert outcome not in DENIED, f"{who} should be allowed {rpc}"
    elif rpc in ("GetAudit", "WatchAudit", "CancelAudit", "SubmitReview", "GetTranscript") and who == "supervisor-78":
        assert outcome in DENIED | {grpc.StatusCode.NOT_FOUND}  # other regions' audits are not even visible
    else:
        assert outcome in DENIED, f"{who} must not {rpc} (got {outcome})"


@pytest.mark.parametrize(
    "auth, why",
    [
        (None, "missing"),
        (
            [("authorization", "Bearer " + issue_token(SIGNING_KEY, "x", Role.ADMIN, (), dt.timedelta(seconds=-5)))],
            "expired",
        ),
        ([("authorization", "Bearer " + issue_token("another-key-" + "y" * 32, "x", Role.ADMIN))], "invalid"),
        ([("authorization", "Bearer " + issue_token(SIGNING_KEY, "x", Role.ADMIN)[:-3] + "abc")], "invalid"),
    ],
)
def test_bad_tokens_are_unauthenticated(stack, auth, why):
    stub, _ = stack
    with pytest.raises(grpc.RpcError) as err:
        stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=auth, timeout=10)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert why in err.value.details()


def test_a_supervisor_lists_only_audits_of_their_regions(stack):
    stub, audit_id = stack
    mine = stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=TOKENS["supervisor-77"], timeout=10).audits
    theirs = stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=TOKENS["supervisor-78"], timeout=10).audits
    assert audit_id in {a.audit_id for a in mine}
    assert audit_id not in {a.audit_id for a in theirs}


def test_a_supervisor_sees_only_their_regions_of_a_national_audit(stack):
    stub, _ = stack
    day = YESTERDAY - dt.timedelta(days=1)  # a day no other test samples (a day is sampled once)
    for region in ("77", "78"):  # one call of that day in each of two regions
        meta = metadata(call_id=f"national-{region}", region=region,
                        start=dt.datetime.combine(day, dt.time(12, 0), tzinfo=dt.UTC))
        stub.IngestRecording(upload(meta, wav_bytes()), metadata=TOKENS["admin"], timeout=10)
    national = stub.StartNightlySampling(
        gateway_pb2.StartNightlySamplingRequest(date=recording_pb2.Date(year=day.year, month=day.month, day=day.day)),
        metadata=TOKENS["sampler"], timeout=30).audits[0]
    assert len(national.region_codes) == 89
    request = gateway_pb2.GetAuditRequest(audit_id=national.audit_id)
    deadline = time.monotonic() + 20
    while not {"77", "78"} <= set(whole := stub.GetAudit(request, metadata=TOKENS["admin"],
                                                         timeout=10).audit.progress_by_region):
        assert time.monotonic() < deadline, "the nightly audit did not sample"
        time.sleep(0.1)
    seen = stub.GetAudit(request, metadata=TOKENS["supervisor-77"], timeout=10).audit
    assert list(seen.region_codes) == ["77"] and set(seen.eligible_calls) <= {"77"}
    # the progress counters are those of region 77's calls, not the nation's
    region_77 = whole["77"].total_calls
    assert 1 <= seen.progress.total_calls == region_77 < region_77 + whole["78"].total_calls
    assert set(seen.progress_by_region) == {"77"}
    listed = stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=TOKENS["supervisor-77"], timeout=10).audits
    assert [a.progress.total_calls for a in listed if a.audit_id == national.audit_id] == [region_77]
    with pytest.raises(grpc.RpcError) as err:  # cancelling needs every region of the audit
        stub.CancelAudit(gateway_pb2.CancelAuditRequest(audit_id=national.audit_id), metadata=TOKENS["supervisor-77"],
                         timeout=10)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # another region's call of the audit is answered like a call that does not exist: not confirmed, not placed
    for call_id in ("national-78", "no-such-call"):
        for rpc, request in (("GetTranscript", gateway_pb2.GetTranscriptRequest), ("SubmitReview",
                                                                                   gateway_pb2.SubmitReviewRequest)):
            extra = {"score": 50} if rpc == "SubmitReview" else {}
            with pytest.raises(grpc.RpcError) as err:
                getattr(stub, rpc)(request(audit_id=national.audit_id, call_id=call_id, **extra),
                                   metadata=TOKENS["supervisor-77"], timeout=10)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND, (rpc, call_id)
            assert err.value.details() == f"call {call_id} is not in audit {national.audit_id}"


def test_a_review_of_an_unknown_criterion_is_told_the_known_ones(stack):
    from helpline.scorer.v1 import scorer_pb2

    stub, _ = stack
    day = YESTERDAY - dt.timedelta(days=2)  # a day no other test samples
    meta = metadata(call_id="review-77", start=dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC))
    stub.IngestRecording(upload(meta, wav_bytes()), metadata=TOKENS["admin"], timeout=10)
    one_day = recording_pb2.Period(first_day=recording_pb2.Date(year=day.year, month=day.month, day=day.day),
                                   last_day=recording_pb2.Date(year=day.year, month=day.month, day=day.day))
    audit = stub.RequestAudit(gateway_pb2.RequestAuditRequest(region_codes=["77"], period=one_day),
                              metadata=TOKENS["supervisor-77"], timeout=10).audit
    deadline = time.monotonic() + 20
    while not stub.GetAudit(gateway_pb2.GetAuditRequest(audit_id=audit.audit_id), metadata=TOKENS["supervisor-77"],
                            timeout=10).audit.progress.total_calls:
        assert time.monotonic() < deadline, "the audit did not sample"
        time.sleep(0.1)
    review = gateway_pb2.SubmitReviewRequest(audit_id=audit.audit_id, call_id="review-77")
    review.judgements.add(criterion_id="risk_assesment", outcome=scorer_pb2.CRITERION_OUTCOME_MET)
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitReview(review, metadata=TOKENS["supervisor-77"], timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("unknown criterion 'risk_assesment' (one of: active_listening, closing,")
    assert "risk_assessment" in err.value.details()

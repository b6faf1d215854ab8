"""The gateway's gRPC service: who may do what, then the work (ingest, audits, reports, reviews)."""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time

from google.protobuf import json_format

from helpline.common.v1 import recording_pb2, transcript_pb2
from helpline.gateway.v1 import audit_pb2, gateway_pb2, gateway_service_pb2, gateway_service_pb2_grpc, report_pb2
from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
from helpline.transcriber.v1 import transcriber_service_pb2_grpc
from helpline_common import layout
from helpline_common.auth import REGIONAL_ROLES, Principal, Role, authenticate
from helpline_common.client import ServiceClient
from helpline_common.errors import Aborted, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from helpline_common.regions import regions, require_known
from helpline_common.server import GrpcService
from helpline_common.storage import ObjectStore
from helpline_gateway import access_log, ingest
from helpline_gateway import reports as report_model
from helpline_gateway.audits import FINAL_STATES, AuditEngine, AuditRepository, new_audit_id
from helpline_gateway.reporting import ReportCenter
from helpline_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

SERVICE_NAME = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name
MAX_PERIOD_DAYS = 366
WATCH_POLL_S = 0.5


def check_period(period) -> tuple[dt.date, dt.date]:
    try:
        first, last = report_model.period_dates(period)  # a real date each, not ending before it starts
    except ValueError as exc:
        raise InvalidArgument(f"period: {exc}") from None
    if last > dt.datetime.now(dt.timezone.utc).date():
        raise InvalidArgument("period ends in the future")
    if (last - first).days + 1 > MAX_PERIOD_DAYS:
        raise InvalidArgument(f"period longer than {MAX_PERIOD_DAYS} days")
    return first, last


def check_sampling(plan: audit_pb2.SamplingPlan, settings: GatewaySettings) -> audit_pb2.SamplingPlan:
    """Validate a sampling plan and fill in the defaults, including a recorded random seed."""
    plan = audit_pb2.SamplingPlan.FromString(plan.SerializeToString())
    which = plan.WhichOneof("size")
    if which is None:
        plan.calls_per_region = settings.default_calls_per_region
    elif which == "calls_per_region" and not 1 <= plan.calls_per_region <= 10000:
        raise InvalidArgument("calls_per_region must be within 1-10000")
    elif which == "margin_of_error":
        moe = plan.margin_of_error
        if not 0.01 <= moe.margin <= 0.5:
            raise InvalidArgument("margin must be within 0.01-0.5")
        if not 0.5 < moe.confidence < 1:
            raise InvalidArgument("confidence must be between 0.5 and 1")
    if plan.seed == 0:
        plan.seed = secrets.randbits(63) or 1
    if not plan.HasField("min_duration"):
        plan.min_duration.FromTimedelta(dt.timedelta(seconds=settings.min_call_seconds))
    elif plan.min_duration.ToTimedelta().total_seconds() < 0:
        raise InvalidArgument("min_duration must not be negative")
    return plan


class GatewayServicer(gateway_service_pb2_grpc.GatewayServiceServicer):
    def __init__(self, settings: GatewaySettings, store: ObjectStore, engine: AuditEngine, reports: ReportCenter):
        self.settings, self.store, self.engine, self.reports = settings, store, engine, reports
        self.audits = AuditRepository(store)

    def _principal(self, context, *roles: Role) -> Principal:
        principal = authenticate(context, self.settings.token_signing_key.get_secret_value())
        principal.require_role(*roles)
        return principal

    def _visible_audit(self, principal: Principal, audit_id: str) -> audit_pb2.Audit:
        return self._as_seen_by(principal, self.audits.load(audit_id))

    @staticmethod
    def _check_visible(principal: Principal, audit: audit_pb2.Audit) -> None:
        if not any(principal.may_see_region(r) for r in audit.region_codes):
            raise NotFound(f"no audit {audit.audit_id}")  # do not reveal other regions' audits

    def _as_seen_by(self, principal: Principal, audit: audit_pb2.Audit) -> audit_pb2.Audit:
        """The audit with other regions' names and counts removed (a nightly audit spans all regions)."""
        self._check_visible(principal, audit)
        if principal.role in REGIONAL_ROLES:
            own = [r for r in audit.region_codes if principal.may_see_region(r)]
            eligible = {r: n for r, n in audit.eligible_calls.items() if principal.may_see_region(r)}
            del audit.region_codes[:]
            audit.region_codes.extend(own)
            audit.eligible_calls.clear()
            audit.eligible_calls.update(eligible)
            if audit.progress_by_region:  # audits saved before it was kept show the whole audit's counters
                mine = {r: p for r, p in audit.progress_by_region.items() if principal.may_see_region(r)}
                p = audit.progress
                for counter in ("total_calls", "done_calls", "failed_calls", "remaining_calls"):
                    setattr(p, counter, sum(getattr(m, counter) for m in mine.values()))
                for region in [r for r in audit.progress_by_region if r not in mine]:
                    del audit.progress_by_region[region]
        return audit

    # -- ingest --------------------------------------------------------------------------------

    def IngestRecording(self, request_iterator, context):
        principal = self._principal(context, Role.UPLOADER, Role.ADMIN)
        return ingest.ingest(request_iterator, self.store, self.settings, principal.require_region)

    # -- audits --------------------------------------------------------------------------------

    def _new_audit(self, principal: Principal, region_codes, period, plan) -> audit_pb2.Audit:
        """Create and persist a PENDING audit (persisted before it is acknowledged or worked on)."""
        audit = audit_pb2.Audit(audit_id=new_audit_id(), state=audit_pb2.AUDIT_STATE_PENDING,
                                region_codes=region_codes, period=period, sampling=plan,
                                requested_by=principal.subject)
        audit.created_at.GetCurrentTime()
        self.audits.save(audit)
        log.info("audit requested", extra={"audit_id": audit.audit_id, "regions": len(region_codes)})
        return audit

    def RequestAudit(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.SAMPLER, Role.ADMIN)
        codes = sorted(set(request.region_codes))
        if not codes:
            raise InvalidArgument("name at least one region")
        for code in codes:
            require_known(code)
            principal.require_region(code)
        check_period(request.period)
        plan = check_sampling(request.sampling, self.settings)
        audit = self._new_audit(principal, codes, request.period, plan)
        self.engine.submit(audit.audit_id)
        return gateway_pb2.RequestAuditResponse(audit=audit)

    def GetAudit(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.SAMPLER, Role.ADMIN)
        audit = self._visible_audit(principal, request.audit_id)
        calls = []
        for c in self.audits.manifest(audit.audit_id) or []:
            if not principal.may_see_region(c.region):
                continue
            state = self.audits.call(audit.audit_id, c.call_id) or {"state": "pending"}
            calls.append(audit_pb2.AuditCall(
                call_id=c.call_id, region_code=c.region,
                state=audit_pb2.CallState.Value(f"CALL_STATE_{state['state'].upper()}"),
                recording=recording_pb2.RecordingRef(object_key=c.recording_key, sha256=c.sha256),
                failure_reason=state.get("failure_reason", ""), score=state.get("score", 0.0)))
        return gateway_pb2.GetAuditResponse(audit=audit, calls=calls)

    def ListAudits(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.SAMPLER, Role.ADMIN)
        page_size = request.page_size or 50
        if not 1 <= page_size <= 500:
            raise InvalidArgument("page_size must be within 1-500")
        found: list[audit_pb2.Audit] = []
        next_token = ""
        for audit_id in self.audits.ids():
            if request.page_token and audit_id >= request.page_token:
                continue
            try:
                audit = self.audits.load(audit_id)
            except NotFound:
                continue
            if request.region_code and request.region_code not in audit.region_codes:
                continue
            if not any(principal.may_see_region(r) for r in audit.region_codes):
                continue
            if len(found) == page_size:
                next_token = found[-1].audit_id
                break
            found.append(self._as_seen_by(principal, audit))
        return gateway_pb2.ListAuditsResponse(audits=found, next_page_token=next_token)

    def CancelAudit(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.ADMIN)
        audit = self.audits.load(request.audit_id)
        self._check_visible(principal, audit)
        for code in audit.region_codes:
            principal.require_region(code)  # a supervisor cancels only audits wholly of their regions
        if audit.state not in FINAL_STATES:
            self.engine.cancel(audit.audit_id, principal.subject)
            if not self.engine.is_running(audit.audit_id):
                self.engine.submit(audit.audit_id)  # nobody works on it: finish the cancellation here
            deadline = time.monotonic() + 10
            while audit.state not in FINAL_STATES and time.monotonic() < deadline and context.is_active():
                time.sleep(0.1)
                audit = self.audits.load(audit.audit_id)
        return gateway_pb2.CancelAuditResponse(audit=self._as_seen_by(principal, audit))

    def WatchAudit(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.SAMPLER, Role.ADMIN)
        audit = self._visible_audit(principal, request.audit_id)
        last = None
        while context.is_active():
            snapshot = audit.SerializeToString(deterministic=True)
            if snapshot != last:
                last = snapshot
                yield gateway_pb2.WatchAuditResponse(audit=audit)
            if audit.state in FINAL_STATES:
                return
            time.sleep(WATCH_POLL_S)
            audit = self._visible_audit(principal, request.audit_id)

    def StartNightlySampling(self, request, context):
        principal = self._principal(context, Role.SAMPLER, Role.ADMIN)
        if not request.HasField("date"):
            raise InvalidArgument("date is required")
        period = recording_pb2.Period(first_day=request.date, last_day=request.date)
        day, _ = check_period(period)
        marker = layout.nightly_key(day)
        try:
            existing = self.store.get_json(marker)
            return gateway_pb2.StartNightlySamplingResponse(
                audits=[self.audits.load(existing["audit_id"])], already_sampled=True)
        except NotFound:
            pass
        plan = check_sampling(request.sampling if request.HasField("sampling") else self.settings.nightly_plan(),
                              self.settings)
        audit = self._new_audit(principal, sorted(regions()), period, plan)
        try:  # the marker decides which of two concurrent nightly runs wins
            self.store.put_json_conditional(marker, {"audit_id": audit.audit_id})
        except Aborted:
            self.store.delete(layout.audit_key(audit.audit_id, "audit.json"))
            existing = self.store.get_json(marker)
            return gateway_pb2.StartNightlySamplingResponse(
                audits=[self.audits.load(existing["audit_id"])], already_sampled=True)
        self.engine.submit(audit.audit_id)
        return gateway_pb2.StartNightlySamplingResponse(audits=[audit], already_sampled=False)

    # -- reading results -----------------------------------------------------------------------

    def GetReport(self, request, context):
        fmt = request.format or report_pb2.REPORT_FORMAT_JSON
        if not request.region_code:
            principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.ADMIN)
            if principal.role == Role.SUPERVISOR:
                raise PermissionDenied("the cross-region report is for reviewers and admins; a supervisor asks for "
                                       "a region's report (give the region code)")
            first, last = check_period(request.period)
            content, key = self.reports.cross_region(first, last, fmt)
        else:
            principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.ADMIN)
            require_known(request.region_code)
            principal.require_region(request.region_code)
            first, last = check_period(request.period)
            with_counselors = principal.role in (Role.SUPERVISOR, Role.ADMIN)
            content, key = self.reports.region(request.region_code, first, last, fmt, with_counselors)
        access_log.record(self.store, principal, "read_report", key)
        content_type = "text/html; charset=utf-8" if fmt == report_pb2.REPORT_FORMAT_HTML else "application/json"
        return gateway_pb2.GetReportResponse(content=content, content_type=content_type, object_key=key)

    def ListFlaggedCalls(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.REVIEWER, Role.ADMIN)
        require_known(request.region_code)
        principal.require_region(request.region_code)
        first, last = check_period(request.period)
        calls = self.reports.flagged_calls(request.region_code, first, last)
        access_log.record(self.store, principal, "list_flagged_calls",
                          f"{request.region_code}/{first:%Y-%m-%d}_{last:%Y-%m-%d}")
        return gateway_pb2.ListFlaggedCallsResponse(calls=calls)

    def _sampled_call(self, principal: Principal, audit_id: str, call_id: str):
        audit = self._visible_audit(principal, audit_id)
        for c in self.audits.manifest(audit.audit_id) or []:
            if c.call_id == call_id and principal.may_see_region(c.region):
                return c
        # Another region's call of a shared (national) audit is answered as absent: naming its region
        # would confirm that the call exists and where.
        raise NotFound(f"call {call_id} is not in audit {audit_id}")

    def GetTranscript(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.ADMIN)
        call = self._sampled_call(principal, request.audit_id, request.call_id)
        state = self.audits.call(request.audit_id, call.call_id) or {}
        if "transcript_key" not in state:
            raise FailedPrecondition("this call has not been transcribed yet")
        access_log.record(self.store, principal, "read_transcript", state["transcript_key"])
        transcript = json_format.ParseDict(self.store.get_json(state["transcript_key"]), transcript_pb2.Transcript())
        response = gateway_pb2.GetTranscriptResponse(transcript=transcript)
        if "score_key" in state and self.store.exists(state["score_key"]):
            access_log.record(self.store, principal, "read_score", state["score_key"])
            json_format.ParseDict(self.store.get_json(state["score_key"]), response.score)
        return response

    def SubmitReview(self, request, context):
        principal = self._principal(context, Role.SUPERVISOR, Role.ADMIN)
        call = self._sampled_call(principal, request.audit_id, request.call_id)
        known = self.reports.criterion_ids()
        if not request.judgements and not request.HasField("score"):
            raise InvalidArgument("a review needs at least one judgement or a score")
        seen = set()
        for j in request.judgements:
            if j.criterion_id not in known:
                raise InvalidArgument(f"unknown criterion {j.criterion_id!r} (one of: {', '.join(sorted(known))})")
            if j.criterion_id in seen:
                raise InvalidArgument(f"criterion {j.criterion_id!r} judged twice")
            if j.outcome == scorer_pb2.CRITERION_OUTCOME_UNSPECIFIED:
                raise InvalidArgument(f"criterion {j.criterion_id!r} has no outcome")
            seen.add(j.criterion_id)
        if request.HasField("score") and not 0 <= request.score <= 100:
            raise InvalidArgument("score must be within 0-100")
        review_id = f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        key = layout.review_key(call.region, call.call_id, review_id)
        review = json_format.MessageToDict(request, preserving_proto_field_name=True)
        review.update(region_code=call.region, reviewer=principal.subject, recording_sha256=call.sha256,
                      created_at=dt.datetime.now(dt.timezone.utc).isoformat())
        self.store.put_json(key, review)
        return gateway_pb2.SubmitReviewResponse(review_key=key)


def create_server(settings: GatewaySettings) -> tuple[GrpcService, int]:
    store = ObjectStore(settings.store)
    root_cert = settings.upstream_root_cert_file
    transcriber = ServiceClient(settings.transcriber_addresses.split(","),
                                transcriber_service_pb2_grpc.TranscriberServiceStub, root_cert=root_cert)
    scorer = ServiceClient(settings.scorer_addresses.split(","), scorer_service_pb2_grpc.ScorerServiceStub,
                           root_cert=root_cert)
    reports = ReportCenter(store, scorer, min_call_seconds=settings.min_call_seconds)
    engine = AuditEngine(store, transcriber, scorer, parallelism=settings.audit_parallelism,
                         lease_ttl_s=settings.audit_lease_seconds, on_finished=reports.render_for_audit)
    servicer = GatewayServicer(settings, store, engine, reports)

    def register(server):
        gateway_service_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)

    def ready() -> None:
        store.ensure_bucket()
        engine.resume_unfinished()
        service.add_background_loop(engine.resume_unfinished, settings.audit_lease_seconds)

    service.become_ready_when(ready)
    service.on_stop(engine.shutdown)
    return service, service.port

"""The gateway's commands of `helpline-qa`: tokens, ingest, audits, reports, flags, reviews, nightly.

Commands talk to a running gateway (HELPLINE_GATEWAY_ADDRESS, default 127.0.0.1:50053) with the bearer
token in HELPLINE_TOKEN (or --token). Exit codes: 0 ok, 1 the gateway refused (message printed),
2 bad usage, 3 the gateway is unreachable.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import grpc
import typer
from google.protobuf import duration_pb2, timestamp_pb2
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from helpline.common.v1 import recording_pb2
from helpline.common.v1 import recording_pb2 as common_pb2
from helpline.gateway.v1 import audit_pb2, gateway_pb2, gateway_service_pb2_grpc, report_pb2
from helpline.scorer.v1 import scorer_pb2
from helpline_common import audio
from helpline_common.auth import Role, auth_metadata, issue_token
from helpline_common.client import open_channel
from helpline_common.errors import HelplineError
from helpline_gateway.reports import date_from_proto, date_to_proto

console = Console(stderr=True)
CHUNK = 256 * 1024
LAYOUTS = {
    "mono": recording_pb2.CHANNEL_LAYOUT_MONO,
    "stereo-caller-first": recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST,
    "stereo-counselor-first": recording_pb2.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST,
}


def gateway_address() -> str:
    return os.environ.get("HELPLINE_GATEWAY_ADDRESS", "127.0.0.1:50053")


class GatewayConnection:
    """A channel and stub to the gateway, with the caller's token."""

    def __init__(self, address: str | None = None, token: str | None = None, root_cert: Path | None = None):
        self.address = address or gateway_address()
        self.token = token or os.environ.get("HELPLINE_TOKEN", "")
        self.channel = open_channel(self.address, root_cert=root_cert)
        self.stub = gateway_service_pb2_grpc.GatewayServiceStub(self.channel)

    @property
    def metadata(self) -> list[tuple[str, str]]:
        return auth_metadata(self.token)

    def close(self) -> None:
        self.channel.close()


def fail(exc: grpc.RpcError) -> typer.Exit:
    """Print a refusal the way a person reads it and choose the exit code."""
    code = exc.code()
    console.print(f"[red]{code.name}[/red]: {exc.details()}")
    hint = {grpc.StatusCode.UNAUTHENTICATED: "the token comes from --token or HELPLINE_TOKEN; an operator issues "
                                             "one with `helpline-qa tokens issue`",
            grpc.StatusCode.UNAVAILABLE: f"is the gateway running at {gateway_address()}? "
                                         "HELPLINE_GATEWAY_ADDRESS says where it is"}.get(code)
    if hint:
        console.print(hint, markup=False)
    return typer.Exit(3 if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 1)


def _upload(meta: recording_pb2.RecordingMetadata, path: Path) -> Iterator[gateway_pb2.IngestRecordingRequest]:
    yield gateway_pb2.IngestRecordingRequest(metadata=meta)
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield gateway_pb2.IngestRecordingRequest(audio_chunk=chunk)


def build_metadata(path: Path, call_id: str, region: str, start: dt.datetime, layout: str, counselor: str,
                   consent: bool, anonymized: bool) -> recording_pb2.RecordingMetadata:
    info = audio.probe(path)
    meta = recording_pb2.RecordingMetadata(
        call_id=call_id, region_code=region, consent=consent, anonymized=anonymized,
        channel_layout=LAYOUTS[layout], counselor_pseudonym=counselor,
        call_start=timestamp_pb2.Timestamp(), duration=duration_pb2.Duration())
    meta.call_start.FromDatetime(start.astimezone(dt.timezone.utc))
    meta.duration.FromTimedelta(dt.timedelta(seconds=info.duration_s))
    return meta


def ingest_file(conn: GatewayConnection, path: Path, meta: recording_pb2.RecordingMetadata,
                timeout: float = 600) -> gateway_pb2.IngestRecordingResponse:
    return conn.stub.IngestRecording(_upload(meta, path), metadata=conn.metadata, timeout=timeout)


TO_HELP = "Last day, included (default: today)"


def period(first: dt.datetime, last: dt.datetime | None) -> common_pb2.Period:
    # Not reports.make_period: a reversed period goes to the gateway, which answers INVALID_ARGUMENT (exit 1).
    if last is None and first.date() > dt.date.today():
        raise typer.BadParameter(f"{first.date()} is after today, where the period ends without --to",
                                 param_hint="--from")
    last_day = last.date() if last else dt.date.today()
    return common_pb2.Period(first_day=date_to_proto(first.date()), last_day=date_to_proto(last_day))


def state_name(state: int) -> str:
    return audit_pb2.AuditState.Name(state).removeprefix("AUDIT_STATE_").lower()


def region_list(codes) -> str:
    """An audit's regions on one line: a reviewer's audit may cover all 89."""
    codes = list(codes)
    return ",".join(codes) if len(codes) <= 6 else f"{','.join(codes[:3])},… ({len(codes)} regions)"


def print_audit(audit: audit_pb2.Audit) -> None:
    p = audit.progress
    print(f"{audit.audit_id}  {state_name(audit.state):<9} regions={region_list(audit.region_codes)}  "
          f"calls={p.total_calls} done={p.done_calls} failed={p.failed_calls} remaining={p.remaining_calls}"
          + (f"  reason: {audit.failure_reason}" if audit.failure_reason else "")
          + (f"  waiting: {audit.waiting_for}" if audit.waiting_for else ""))


def watch(conn: GatewayConnection, audit_id: str, show_progress: bool = True) -> audit_pb2.Audit:
    """Follow an audit until it ends; a progress bar on a terminal."""
    audit = None
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=console, disable=not show_progress) as bar:
        task = bar.add_task(f"audit {audit_id}", total=None)
        for update in conn.stub.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit_id),
                                           metadata=conn.metadata, timeout=24 * 3600):
            audit = update.audit
            p = audit.progress
            waiting = f"; waiting: {audit.waiting_for}" if audit.waiting_for else ""
            bar.update(task, total=p.total_calls or None, completed=p.done_calls + p.failed_calls,
                       description=f"audit {audit_id} ({state_name(audit.state)}{waiting})")
    return audit


def flag_table(calls) -> Table:
    table = Table()
    for name, ids in (("audit", [c.audit_id for c in calls]), ("call", [c.call_id for c in calls])):
        # ids are copied into `review submit`: the other columns wrap first, these are never cut
        table.add_column(name, no_wrap=True, min_width=max(map(len, ids), default=0))
    table.add_column("flag", overflow="fold")
    table.add_column("certainty", no_wrap=True, min_width=len("possible"))
    table.add_column("score", no_wrap=True)
    table.add_column("listen at (s)")
    for c in calls:
        offsets = ", ".join(f"{o.ToTimedelta().total_seconds():.1f}" for o in c.offsets)
        table.add_row(c.audit_id, c.call_id, c.flag, "likely" if c.likely else "possible", f"{c.score:.1f}", offsets)
    return table


def exit_code_for(audit: audit_pb2.Audit) -> int:
    return 0 if audit.state == audit_pb2.AUDIT_STATE_SUCCEEDED else 1


def register(app: typer.Typer) -> None:
    tokens = typer.Typer(help="Bearer tokens for people and jobs (operators only).", no_args_is_help=True)
    app.add_typer(tokens, name="tokens")

    @tokens.command("issue")
    def tokens_issue(
        role: Role = typer.Option(..., help="uploader, supervisor, reviewer, sampler or admin"),
        region: list[str] = typer.Option([], help="Region code (repeat for several); uploaders and supervisors"),
        subject: str = typer.Option(..., help="Who the token is for (a pseudonym, not a person's name)"),
        hours: float = typer.Option(12, help="Validity in hours"),
    ) -> None:
        """Print a signed token (signing key from HELPLINE_GATEWAY_TOKEN_SIGNING_KEY)."""
        if not hours > 0:
            raise typer.BadParameter(f"a token must be valid for some time, not {hours} hours", param_hint="--hours")
        key = os.environ.get("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", "")
        if not key:
            console.print("[red]HELPLINE_GATEWAY_TOKEN_SIGNING_KEY is not set: the gateway's signing key is needed "
                          "to issue a token it accepts[/red]")
            raise typer.Exit(2)
        try:
            print(issue_token(key, subject, role, region, dt.timedelta(hours=hours)))
        except (HelplineError, ValueError) as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None

    @app.command("ingest")
    def ingest_cmd(
        file: Path = typer.Argument(..., exists=True, dir_okay=False, help="WAV, FLAC or OGG recording"),
        call_id: str = typer.Option(..., help="Anonymous call id"),
        region: str = typer.Option(..., help="Region code, e.g. 77"),
        start: dt.datetime = typer.Option(..., help="Call start, ISO 8601 (UTC unless an offset is given)"),
        layout: str = typer.Option("stereo-caller-first", help=", ".join(LAYOUTS)),
        counselor: str = typer.Option(..., help="Counselor pseudonym"),
        consent: bool = typer.Option(..., "--consent/--no-consent", help="The caller consented to review"),
        anonymized: bool = typer.Option(..., "--anonymized/--not-anonymized", help="The recording is anonymized"),
        token: str = typer.Option(None, help="Bearer token (default: HELPLINE_TOKEN)"),
    ) -> None:
        """Upload one recording with its metadata (uploaders)."""
        if layout not in LAYOUTS:
            raise typer.BadParameter(f"choose one of {', '.join(LAYOUTS)}")
        if start.tzinfo is None:
            start = start.replace(tzinfo=dt.timezone.utc)
        try:
            meta = build_metadata(file, call_id, region, start, layout, counselor, consent, anonymized)
        except HelplineError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
        conn = GatewayConnection(token=token)
        try:
            answer = ingest_file(conn, file, meta)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()
        state = "already stored" if answer.already_present else "stored"
        print(f"{state}: {answer.recording.ref.object_key} sha256={answer.recording.ref.sha256}")

    token_opt = typer.Option(None, help="Bearer token (default: HELPLINE_TOKEN)")
    audit_app = typer.Typer(help="Audits: request, follow, cancel (supervisors).", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    def connect(token: str | None) -> GatewayConnection:
        return GatewayConnection(token=token)

    @audit_app.command("request")
    def audit_request(
        region: list[str] = typer.Option(..., help="Region code (repeat for several)"),
        first: dt.datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="First day"),
        last: dt.datetime = typer.Option(None, "--to", formats=["%Y-%m-%d"], help=TO_HELP),
        calls: int = typer.Option(None, help="Calls per region"),
        margin: float = typer.Option(None, help="Or: wanted margin of error on a compliance rate, e.g. 0.1"),
        seed: int = typer.Option(0, help="Random seed (0: chosen and recorded by the gateway)"),
        min_seconds: float = typer.Option(None, help="Minimum call duration"),
        wait: bool = typer.Option(False, "--wait/--no-wait", help="Follow the audit until it ends"),
        token: str = token_opt,
    ) -> None:
        """Sample calls of a region and period and start their audit."""
        plan = audit_pb2.SamplingPlan(seed=seed)
        if calls is not None and margin is not None:
            raise typer.BadParameter("give --calls or --margin, not both")
        if calls is not None:
            plan.calls_per_region = calls
        elif margin is not None:
            plan.margin_of_error.margin, plan.margin_of_error.confidence = margin, 0.95
        if min_seconds is not None:
            plan.min_duration.FromTimedelta(dt.timedelta(seconds=min_seconds))
        conn = connect(token)
        try:
            audit = conn.stub.RequestAudit(gateway_pb2.RequestAuditRequest(
                region_codes=region, period=period(first, last), sampling=plan), metadata=conn.metadata,
                timeout=30).audit
            print_audit(audit)
            if wait:
                audit = watch(conn, audit.audit_id)
                print_audit(audit)
                raise typer.Exit(exit_code_for(audit))
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()

    @audit_app.command("status")
    def audit_status(audit_id: str = typer.Argument(None, help="Audit id; none lists recent audits"),
                     token: str = token_opt) -> None:
        """One audit with its calls, or the list of recent audits."""
        conn = connect(token)
        try:
            if audit_id is None:
                for audit in conn.stub.ListAudits(gateway_pb2.ListAuditsRequest(), metadata=conn.metadata,
                                                  timeout=30).audits:
                    print_audit(audit)
                return
            answer = conn.stub.GetAudit(gateway_pb2.GetAuditRequest(audit_id=audit_id), metadata=conn.metadata,
                                        timeout=30)
            print_audit(answer.audit)
            table = Table("call", "region", "state", "score", "reason")
            for c in answer.calls:
                table.add_row(c.call_id, c.region_code, audit_pb2.CallState.Name(c.state).removeprefix("CALL_STATE_"),
                              f"{c.score:.1f}" if c.state == audit_pb2.CALL_STATE_SCORED else "", c.failure_reason)
            Console().print(table)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()

    @audit_app.command("watch")
    def audit_watch(audit_id: str, token: str = token_opt) -> None:
        """Follow an audit with a progress bar until it ends (exit 1 unless it succeeded)."""
        conn = connect(token)
        try:
            audit = watch(conn, audit_id)
            print_audit(audit)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()
        raise typer.Exit(exit_code_for(audit))

    @audit_app.command("cancel")
    def audit_cancel(audit_id: str, token: str = token_opt) -> None:
        """Cancel an audit."""
        conn = connect(token)
        try:
            print_audit(conn.stub.CancelAudit(gateway_pb2.CancelAuditRequest(audit_id=audit_id),
                                              metadata=conn.metadata, timeout=30).audit)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()

    report_app = typer.Typer(help="Quality reports.", no_args_is_help=True)
    app.add_typer(report_app, name="report")

    @report_app.command("get")
    def report_get(
        first: dt.datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"]),
        last: dt.datetime = typer.Option(None, "--to", formats=["%Y-%m-%d"], help=TO_HELP),
        region: str = typer.Option("", help="Region code; empty: the cross-region report (reviewers)"),
        fmt: str = typer.Option("html", "--format", help="html or json"),
        output: Path = typer.Option(..., "-o", "--output", help="File to write"),
        token: str = token_opt,
    ) -> None:
        """Save a region's (or the cross-region) report to a file."""
        formats = {"html": report_pb2.REPORT_FORMAT_HTML, "json": report_pb2.REPORT_FORMAT_JSON}
        if fmt not in formats:
            raise typer.BadParameter(f"must be html or json, not {fmt!r}", param_hint="--format")
        if output.is_dir() or not output.parent.is_dir():  # before the gateway builds and logs the read
            raise typer.BadParameter(f"{output} is a folder or in none; name a file in an existing folder",
                                     param_hint="--output")
        conn = connect(token)
        try:
            answer = conn.stub.GetReport(gateway_pb2.GetReportRequest(
                region_code=region, period=period(first, last), format=formats[fmt]), metadata=conn.metadata,
                timeout=120)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()
        try:
            output.write_bytes(answer.content)
        except OSError as exc:
            console.print(f"[red]cannot write {output}: {exc.strerror}[/red]")
            raise typer.Exit(2) from None
        print(f"saved {output} ({len(answer.content)} bytes; stored as {answer.object_key})")

    flags_app = typer.Typer(help="Calls flagged for review.", no_args_is_help=True)
    app.add_typer(flags_app, name="flags")

    @flags_app.command("list")
    def flags_list(
        region: str = typer.Option(...),
        first: dt.datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"]),
        last: dt.datetime = typer.Option(None, "--to", formats=["%Y-%m-%d"], help=TO_HELP),
        token: str = token_opt,
    ) -> None:
        """Calls with a critical flag, and the moments to listen to."""
        span = period(first, last)
        conn = connect(token)
        try:
            calls = conn.stub.ListFlaggedCalls(gateway_pb2.ListFlaggedCallsRequest(
                region_code=region, period=span), metadata=conn.metadata, timeout=60).calls
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()
        if not calls:
            print(f"no flagged calls in region {region} from {first.date()} to {date_from_proto(span.last_day)}")
            return
        Console().print(flag_table(calls))

    review_app = typer.Typer(help="Supervisors' reviews of calls.", no_args_is_help=True)
    app.add_typer(review_app, name="review")
    outcomes = {"met": scorer_pb2.CRITERION_OUTCOME_MET, "not_met": scorer_pb2.CRITERION_OUTCOME_NOT_MET,
                "na": scorer_pb2.CRITERION_OUTCOME_NOT_APPLICABLE}

    @review_app.command("submit")
    def review_submit(
        audit_id: str = typer.Option(...),
        call_id: str = typer.Option(...),
        judgement: list[str] = typer.Option([], "--judgement", "--judgment",
                                            help="criterion=met|not_met|na (repeat)"),
        score: float = typer.Option(None, help="Your overall score, 0-100"),
        token: str = token_opt,
    ) -> None:
        """Record your judgement of a call, per criterion."""
        request = gateway_pb2.SubmitReviewRequest(audit_id=audit_id, call_id=call_id)
        for item in judgement:
            criterion, _, outcome = item.partition("=")
            if outcome not in outcomes:
                raise typer.BadParameter(f"{item}: use criterion=met|not_met|na")
            request.judgements.add(criterion_id=criterion, outcome=outcomes[outcome])
        if score is not None:
            request.score = score
        conn = connect(token)
        try:
            print(conn.stub.SubmitReview(request, metadata=conn.metadata, timeout=30).review_key)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()

    @app.command("nightly")
    def nightly(
        date: dt.datetime = typer.Option(None, formats=["%Y-%m-%d"], help="Day to sample (default: yesterday, UTC)"),
        wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the audit to finish"),
        token: str = token_opt,
    ) -> None:
        """Sample a day for every region and start the audit (idempotent per day). For the CronJob."""
        day = date.date() if date else dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
        conn = connect(token)
        try:
            answer = conn.stub.StartNightlySampling(gateway_pb2.StartNightlySamplingRequest(
                date=date_to_proto(day)), metadata=conn.metadata, timeout=60)
            audit = answer.audits[0]
            print(("already sampled: " if answer.already_sampled else "started: ") + audit.audit_id)
            if wait:
                audit = watch(conn, audit.audit_id, show_progress=False)
            print_audit(audit)
        except grpc.RpcError as exc:
            raise fail(exc) from None
        finally:
            conn.close()
        if audit.state in (audit_pb2.AUDIT_STATE_FAILED, audit_pb2.AUDIT_STATE_CANCELLED):
            raise typer.Exit(1)

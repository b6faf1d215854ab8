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

from helpline.common.v1 import recording_pb2
from helpline.gateway.v1 import gateway_pb2, gateway_service_pb2_grpc
from helpline_common import audio
from helpline_common.auth import Role, auth_metadata, issue_token
from helpline_common.client import open_channel
from helpline_common.errors import HelplineError

console = Console(stderr=True)
CHUNK = 256 * 1024
LAYOUTS = {
    "mono": recording_pb2.CHANNEL_LAYOUT_MONO,
    "stereo-caller-first": recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST,
    "stereo-counselor-first": recording_pb2.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST,
}


class GatewayConnection:
    """A channel and stub to the gateway, with the caller's token."""

    def __init__(self, address: str | None = None, token: str | None = None, root_cert: Path | None = None):
        self.address = address or os.environ.get("HELPLINE_GATEWAY_ADDRESS", "127.0.0.1:50053")
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
        key = os.environ.get("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", "")
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

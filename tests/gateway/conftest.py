"""A gateway on port 0 over the real store, with whatever transcriber/scorer addresses a test gives."""

from __future__ import annotations

import contextlib

from helpline_gateway.service import create_server
from helpline_gateway.settings import GatewaySettings
from tests.conftest import SIGNING_KEY, running


@contextlib.contextmanager
def gateway(transcriber: str = "127.0.0.1:1", scorer: str = "127.0.0.1:1", **overrides):
    settings = GatewaySettings(
        **(
            {
                "port": 0,
                "metrics_port": -1,
                "token_signing_key": SIGNING_KEY,
                "transcriber_addresses": transcriber,
                "scorer_addresses": scorer,
                "min_call_seconds": 1,
                "audit_lease_seconds": 3,
            }
            | overrides
        )
    )
    with running(create_server, settings) as (service, channel):
        yield service, channel

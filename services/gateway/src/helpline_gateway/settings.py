from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from helpline_common.auth import MIN_KEY_BYTES
from helpline_common.settings import ServerSettings


class GatewaySettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_GATEWAY_", extra="ignore")

    port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=-1, le=65535)
    token_signing_key: SecretStr
    transcriber_addresses: str = "127.0.0.1:50051"
    scorer_addresses: str = "127.0.0.1:50052"
    max_recording_mb: int = Field(default=500, ge=1)
    max_call_seconds: float = Field(default=7200, gt=0)
    # Declared and measured durations may differ this much (telephony systems round).
    duration_tolerance_s: float = Field(default=2.0, ge=0)
    audit_parallelism: int = Field(default=4, ge=1, le=256)
    # A replica that stops renewing its lease on an audit loses it after this long.
    audit_lease_seconds: float = Field(default=30, gt=0.5)
    default_calls_per_region: int = Field(default=10, ge=1, le=10000)
    nightly_calls_per_region: int = Field(default=10, ge=1, le=10000)
    min_call_seconds: float = Field(default=30, ge=0)
    # CA certificate to verify the transcriber's and scorer's TLS; unset means plaintext.
    upstream_root_cert_file: Path | None = None

    def nightly_plan(self):
        from helpline.gateway.v1 import audit_pb2

        return audit_pb2.SamplingPlan(calls_per_region=self.nightly_calls_per_region)

    @field_validator("token_signing_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value().encode()) < MIN_KEY_BYTES:
            raise ValueError(f"must be at least {MIN_KEY_BYTES} bytes")
        return value

"""Typed settings read from environment variables, validated at start-up.

Each service subclasses `ServerSettings` with its own prefix (HELPLINE_TRANSCRIBER_, …); the object
store settings are shared (HELPLINE_S3_* and the standard AWS_* credentials). docs/conventions.md lists them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where the S3-compatible object store is (MinIO in production)."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_S3_", extra="ignore", populate_by_name=True)

    endpoint: str = "127.0.0.1:9000"
    secure: bool = False
    bucket: str = Field(default="helpline-qa", min_length=3, max_length=63)
    region: str = "us-east-1"
    access_key: SecretStr = Field(validation_alias="AWS_ACCESS_KEY_ID")
    secret_key: SecretStr = Field(validation_alias="AWS_SECRET_ACCESS_KEY")
    timeout_s: float = Field(default=10.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)


class ServerSettings(BaseSettings):
    """What every gRPC service needs; subclasses set `env_prefix` and their defaults."""

    model_config = SettingsConfigDict(extra="ignore")

    host: str = "[::]"
    port: int = Field(default=0, ge=0, le=65535)
    metrics_port: int = Field(default=-1, ge=-1, le=65535)  # -1 = no metrics endpoint
    metrics_host: str = "0.0.0.0"  # Prometheus scrapes the pod's address; 127.0.0.1 on a developer's machine
    # As many threads as admitted RPCs, so health checks never queue behind long streams; CPU-heavy work
    # is bounded separately by each service (e.g. the transcriber's decoding slots).
    workers: int = Field(default=32, ge=1, le=256)
    max_concurrent_rpcs: int = Field(default=32, ge=1)
    max_message_mb: int = Field(default=8, ge=1, le=1024)
    grace_seconds: float = Field(default=10.0, ge=0)
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    store: StoreSettings = Field(default_factory=StoreSettings)

    @model_validator(mode="after")
    def _tls_pair(self):
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(f"set both {prefix}TLS_CERT_FILE and {prefix}TLS_KEY_FILE, or neither")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file not found: {path}")
        return self


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides) -> S:
    """Read settings or stop the process with a message naming every bad variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        # A nested group built by its default factory (the store) fails as its own model, with its own locations.
        owner = next((f.annotation for f in cls.model_fields.values() if getattr(f.annotation, "__name__", None)
                      == exc.title and issubclass(f.annotation, BaseSettings)), cls)
        lines = [f"invalid configuration for {cls.__name__}:"]
        for err in exc.errors():
            name = _variable(owner, err["loc"])
            lines.append(f"  {name}: {err['msg']}" if name else f"  {err['msg']}")
        print("\n".join(lines), file=sys.stderr)
        raise SystemExit(2) from None


def _variable(cls: type[BaseSettings], loc: tuple) -> str:
    """The environment variable a validation error's location stands for ("" for a check across fields,
    whose message names them)."""
    if not loc:
        return ""
    field = cls.model_fields.get(str(loc[0]))
    if field is None:  # the location is already a variable: a field read under its alias (AWS_*)
        return str(loc[0])
    nested = field.annotation
    if len(loc) > 1 and isinstance(nested, type) and issubclass(nested, BaseSettings):
        return _variable(nested, loc[1:])
    return f"{cls.model_config.get('env_prefix', '')}{str(loc[0]).upper()}"

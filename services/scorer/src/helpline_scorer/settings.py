from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from helpline_common.settings import ServerSettings


class ScorerSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_SCORER_", extra="ignore")

    port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=-1, le=65535)
    # Empty: the promoted version in the object store (the bundled default when none is promoted).
    model_version: str = ""
    model_cache_dir: Path = Path("/tmp/helpline-models")
    # Pin the expected SHA-256 of model.joblib; empty: from promoted.json / the version's card.
    model_sha256: str = Field(default="", pattern="^([0-9a-f]{64})?$")
    # A local model.joblib (card.json beside it) instead of the store: development and tests.
    model_file: Path | None = None
    # Protocol file; empty: the bundled protocol/v1.yaml.
    protocol_file: Path | None = None

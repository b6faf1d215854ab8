from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from helpline_common.settings import ServerSettings


class TranscriberSettings(ServerSettings):
    model_config = SettingsConfigDict(env_prefix="HELPLINE_TRANSCRIBER_", extra="ignore")

    port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=-1, le=65535)
    # Either a Vosk model directory, or an archive in the object store checked by SHA-256.
    model_dir: Path | None = None
    model_object: str | None = None
    model_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    model_cache_dir: Path = Path("/tmp/helpline-models")
    max_audio_seconds: float = Field(default=7200, gt=0)
    # Recordings decoded at once; past this, RESOURCE_EXHAUSTED at once (each uses one core per channel).
    max_concurrent_streams: int = Field(default=2, ge=1, le=64)
    # Channels decoded at once (threads, one warm recognizer each; 0 = number of CPU cores). Admitted streams
    # beyond this wait for a decoder, so memory stays flat in the number of streams.
    decoders: int = Field(default=0, ge=0, le=64)
    # Audio channels accepted (stereo: caller and counselor); more is INVALID_ARGUMENT.
    max_channels: int = Field(default=2, ge=1, le=2)
    # Largest recording accepted, by stream or from the store.
    max_recording_mb: int = Field(default=500, ge=1)
    # webrtcvad aggressiveness 0-3 for skipping silence; -1 decodes everything.
    vad_aggressiveness: int = Field(default=2, ge=-1, le=3)
    # A pause longer than this (seconds) within one speaker's speech starts a new segment.
    pause_seconds: float = Field(default=0.8, gt=0, le=30)
    # Run the recognizers once on synthetic audio at start-up, so the first calls skip their warm-up.
    warm_up: bool = True

    @model_validator(mode="after")
    def _one_model_source(self):
        prefix = self.model_config["env_prefix"]
        if (self.model_dir is None) == (self.model_object is None):
            raise ValueError(f"set exactly one of {prefix}MODEL_DIR or {prefix}MODEL_OBJECT")
        if self.model_object is not None and self.model_sha256 is None:
            raise ValueError(f"{prefix}MODEL_OBJECT needs {prefix}MODEL_SHA256")
        if self.model_dir is not None and not (self.model_dir / "am").is_dir():
            raise ValueError(f"{self.model_dir} is not a Vosk model directory (no am/)")
        return self

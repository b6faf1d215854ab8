"""Reading what an audio file is, before anything trusts it (gateway ingest, transcriber).

Errors are InvalidArgument with a reason a person understands.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from helpline_common.errors import InvalidArgument

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000
# Containers we accept and the file extension they are stored under.
CONTAINERS = {"WAV": "wav", "FLAC": "flac", "OGG": "ogg"}
# Sample encodings libsndfile reports that we can decode to 16-bit PCM.
ENCODINGS = {"PCM_16", "PCM_U8", "PCM_S8", "PCM_24", "PCM_32", "ULAW", "ALAW", "FLOAT", "DOUBLE", "VORBIS", "OPUS"}


@dataclass(frozen=True)
class AudioInfo:
    container: str
    encoding: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate

    @property
    def extension(self) -> str:
        return CONTAINERS[self.container]


def probe(path: str | os.PathLike, max_channels: int = 2, max_seconds: float | None = None) -> AudioInfo:
    """Read and check the header of an audio file."""
    import soundfile  # imported here: only the audio-handling services install it

    size = os.path.getsize(path)
    if size == 0:
        raise InvalidArgument("audio is empty")
    try:
        info = soundfile.info(str(path))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        raise InvalidArgument("not a readable audio file (expected WAV, FLAC or OGG)") from exc
    if info.format not in CONTAINERS:
        raise InvalidArgument(f"unsupported container {info.format}; expected WAV, FLAC or OGG")
    if info.subtype not in ENCODINGS:
        raise InvalidArgument(f"unsupported sample encoding {info.subtype}")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        raise InvalidArgument(
            f"sample rate {info.samplerate} Hz outside {MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz")
    if not 1 <= info.channels <= max_channels:
        raise InvalidArgument(f"{info.channels} channels; at most {max_channels} are accepted")
    if info.frames <= 0:
        raise InvalidArgument("audio has no samples")
    result = AudioInfo(info.format, info.subtype, int(info.samplerate), int(info.channels), int(info.frames))
    if max_seconds is not None and result.duration_s > max_seconds:
        raise InvalidArgument(f"audio is {result.duration_s:.0f} s long; the limit is {max_seconds:.0f} s")
    return result

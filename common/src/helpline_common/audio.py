"""Reading what an audio file is, before anything trusts it (gateway ingest, transcriber).

Errors are InvalidArgument with a reason a person understands.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from helpline_common.errors import InvalidArgument

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 48000
# Containers we accept and the file extension they are stored under. WAVEX is WAVE_FORMAT_EXTENSIBLE,
# plain WAV as far as we are concerned (sox and telephony systems write it).
CONTAINERS = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg"}
# The first bytes of every container libsndfile may be asked to read; anything else is "not audio".
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"fLaC", b"OggS")
_UNKNOWN_DATA_SIZES = (0, 0xFFFFFFFF)  # streaming writers that did not know the length
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


def _check_wav_chunks(path: str | os.PathLike, size: int) -> None:
    """Refuse a RIFF/WAVE file whose `data` chunk claims more bytes than the file holds (truncated)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return  # other containers: libsndfile's own checks
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            if chunk_id == b"data":
                available = size - pos - 8
                if chunk_size not in _UNKNOWN_DATA_SIZES and chunk_size > available:
                    raise InvalidArgument(
                        f"audio is truncated: the WAV header declares {chunk_size} bytes of samples, "
                        f"the file holds {available}")
                return
            pos += 8 + chunk_size + (chunk_size & 1)
    raise InvalidArgument("WAV file has no data chunk (truncated or not audio)")


def probe(path: str | os.PathLike, max_channels: int = 2, max_seconds: float | None = None) -> AudioInfo:
    """Read and check the header of an audio file, before any decoding."""
    import soundfile  # imported here: only the audio-handling services install it

    size = os.path.getsize(path)
    if size == 0:
        raise InvalidArgument("audio is empty")
    with open(path, "rb") as f:
        if f.read(4) not in _MAGIC:
            raise InvalidArgument("not an audio file (expected WAV, FLAC or OGG)")
    _check_wav_chunks(path, size)
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
    container = "WAV" if info.format == "WAVEX" else info.format
    result = AudioInfo(container, info.subtype, int(info.samplerate), int(info.channels), int(info.frames))
    if max_seconds is not None and result.duration_s > max_seconds:
        raise InvalidArgument(f"audio is {result.duration_s:.0f} s long; the limit is {max_seconds:.0f} s")
    return result

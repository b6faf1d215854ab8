"""Ingest: a recording streamed in by a regional service is checked and stored with its metadata.

The audio is spooled to a temporary file (never held whole in memory), hashed and probed, then
uploaded; the metadata JSON beside it is written last and is what makes the recording visible to
sampling. If anything fails after the audio was uploaded, the audio is removed again, so nothing
half-written stays behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import tempfile
from collections.abc import Iterator

from google.protobuf import json_format

from helpline.common.v1 import recording_pb2
from helpline.gateway.v1 import gateway_pb2
from helpline_common import audio, layout
from helpline_common.errors import AlreadyExists, FailedPrecondition, HelplineError, InvalidArgument
from helpline_common.regions import require_known
from helpline_common.storage import ObjectStore
from helpline_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

CLOCK_SKEW = dt.timedelta(minutes=5)
STEREO_LAYOUTS = (recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST, recording_pb2.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST)


def validate_metadata(meta: recording_pb2.RecordingMetadata, settings: GatewaySettings,
                      now: dt.datetime | None = None) -> None:
    """Check what the uploader declared; consent and anonymization are preconditions."""
    if not layout.CALL_ID_PATTERN.match(meta.call_id):
        raise InvalidArgument("call_id must be 1-64 characters of letters, digits, '_' or '-'")
    require_known(meta.region_code)
    if not meta.HasField("call_start"):
        raise InvalidArgument("call_start is required")
    now = now or dt.datetime.now(dt.UTC)
    if meta.call_start.ToDatetime(dt.UTC) > now + CLOCK_SKEW:
        raise InvalidArgument("call_start is in the future")
    seconds = meta.duration.ToTimedelta().total_seconds()
    if not 0 < seconds <= settings.max_call_seconds:
        raise InvalidArgument(f"duration must be within 0-{settings.max_call_seconds:.0f} s")
    if meta.channel_layout == recording_pb2.CHANNEL_LAYOUT_UNSPECIFIED:
        raise InvalidArgument("channel_layout is required")
    if not meta.counselor_pseudonym or len(meta.counselor_pseudonym) > 64:
        raise InvalidArgument("counselor_pseudonym is required (at most 64 characters)")
    if not meta.consent:
        raise FailedPrecondition("the caller did not consent to quality review; the recording is not accepted")
    if not meta.anonymized:
        raise FailedPrecondition("the recording is not marked anonymized; it is not accepted")


def _check_audio(info: audio.AudioInfo, meta: recording_pb2.RecordingMetadata, settings: GatewaySettings) -> None:
    stereo = meta.channel_layout in STEREO_LAYOUTS
    if stereo and info.channels != 2:
        raise InvalidArgument(f"channel_layout says stereo but the audio has {info.channels} channel(s)")
    if not stereo and info.channels != 1:
        raise InvalidArgument(f"channel_layout says mono but the audio has {info.channels} channels")
    declared = meta.duration.ToTimedelta().total_seconds()
    if abs(info.duration_s - declared) > max(settings.duration_tolerance_s, 0.05 * declared):
        raise InvalidArgument(f"declared duration {declared:.1f} s but the audio lasts {info.duration_s:.1f} s")


def ingest(requests: Iterator[gateway_pb2.IngestRecordingRequest], store: ObjectStore,
           settings: GatewaySettings, authorize_region) -> gateway_pb2.IngestRecordingResponse:
    """Consume an upload stream; `authorize_region(code)` raises unless the uploader may use that region."""
    first = next(requests, None)
    if first is None or first.WhichOneof("payload") != "metadata":
        raise InvalidArgument("the first message of an upload must carry the metadata")
    meta = first.metadata
    validate_metadata(meta, settings)
    authorize_region(meta.region_code)

    limit = settings.max_recording_mb * 1024 * 1024
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(prefix="ingest-", suffix=".audio") as spool:
        size = 0
        for message in requests:
            if message.WhichOneof("payload") != "audio_chunk":
                raise InvalidArgument("metadata may only be sent once, first")
            size += len(message.audio_chunk)
            if size > limit:
                raise InvalidArgument(f"recording larger than {settings.max_recording_mb} MB")
            digest.update(message.audio_chunk)
            spool.write(message.audio_chunk)
        spool.flush()
        if size == 0:
            raise InvalidArgument("no audio was sent")
        info = audio.probe(spool.name, max_channels=2, max_seconds=settings.max_call_seconds)
        _check_audio(info, meta, settings)

        sha256 = digest.hexdigest()
        call_start = meta.call_start.ToDatetime(dt.UTC)
        audio_key = layout.recording_key(meta.region_code, call_start, meta.call_id, info.extension)
        metadata_key = layout.recording_metadata_key(audio_key)
        if store.exists(metadata_key):
            stored = json_format.ParseDict(store.get_json(metadata_key), recording_pb2.Recording())
            if stored.ref.sha256 != sha256:
                raise AlreadyExists(f"call {meta.call_id} is already stored with different audio")
            return gateway_pb2.IngestRecordingResponse(recording=stored, already_present=True)

        recording = recording_pb2.Recording(
            metadata=meta, ref=recording_pb2.RecordingRef(object_key=audio_key, sha256=sha256),
            format=recording_pb2.AudioFormat(container=info.container, encoding=info.encoding,
                                             sample_rate_hz=info.sample_rate, channels=info.channels),
            size_bytes=size)
        recording.audio_duration.FromTimedelta(dt.timedelta(seconds=info.duration_s))
        recording.ingested_at.GetCurrentTime()
        spool.seek(0)
        store.upload_stream(audio_key, spool, size, content_type=f"audio/{info.extension}",
                            metadata={"sha256": sha256})
        try:
            store.put_json(metadata_key, json_format.MessageToDict(recording))
        except Exception:
            with contextlib.suppress(HelplineError):  # the audio alone is invisible to sampling anyway
                store.delete(audio_key)
            raise
    log.info("recording ingested", extra={"region": meta.region_code, "bytes": size,
                                          "seconds": round(info.duration_s, 1)})
    return gateway_pb2.IngestRecordingResponse(recording=recording, already_present=False)

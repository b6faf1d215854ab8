"""The transcriber's gRPC service."""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from pathlib import Path

from google.protobuf import json_format

from helpline.common.v1 import recording_pb2
from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2, transcriber_service_pb2_grpc
from helpline_common import layout
from helpline_common.errors import (
    Cancelled,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from helpline_common.server import GrpcService
from helpline_common.storage import ObjectStore
from helpline_transcriber import models
from helpline_transcriber.pipeline import Transcriber, require_valid_layout
from helpline_transcriber.settings import TranscriberSettings

log = logging.getLogger(__name__)

SERVICE_NAME = transcriber_service_pb2.DESCRIPTOR.services_by_name["TranscriberService"].full_name
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg")


def check_consent(metadata: recording_pb2.RecordingMetadata) -> None:
    """The rule that never bends: no consent or no anonymization, no transcription."""
    if not metadata.consent:
        raise FailedPrecondition("the caller did not consent to quality review; the recording is not transcribed")
    if not metadata.anonymized:
        raise FailedPrecondition("the recording is not marked anonymized; it is not transcribed")
    if metadata.call_id and not layout.CALL_ID_PATTERN.match(metadata.call_id):
        raise InvalidArgument("call_id must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")


def _check_object_key(key: str) -> None:
    if not key:
        raise InvalidArgument("object_key is required")
    if len(key) > 512 or not key.startswith("recordings/") or ".." in key.split("/") or "//" in key:
        raise InvalidArgument("object_key must be a recordings/… key of the object store")
    if not key.lower().endswith(AUDIO_EXTENSIONS):
        raise InvalidArgument("object_key must name a .wav, .flac or .ogg recording")


def _deadline(context) -> float | None:
    remaining = context.time_remaining()
    return None if remaining is None or remaining > 1e8 else time.monotonic() + remaining


class TranscriberServicer(transcriber_service_pb2_grpc.TranscriberServiceServicer):
    def __init__(self, settings: TranscriberSettings):
        self.settings = settings
        self.model: models.SpeechModel | None = None
        self.transcriber: Transcriber | None = None
        self._store: ObjectStore | None = None
        self._load_lock = threading.Lock()
        self._fatal: str | None = None

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = ObjectStore(self.settings.store)
        return self._store

    def _model_dir(self) -> Path:
        if self.settings.model_dir is not None:
            return self.settings.model_dir
        return models.fetch_from_store(self.store, self.settings.model_object, self.settings.model_sha256,
                                       self.settings.model_cache_dir)

    def load_model(self) -> None:
        """Load the Vosk model once per process (called by the readiness loop until it succeeds)."""
        with self._load_lock:
            if self.transcriber is not None:
                return
            if self._fatal:
                raise models.ModelError(self._fatal)  # a refused archive is not downloaded again
            try:
                model = models.from_directory(self._model_dir())
            except models.ModelError as exc:
                self._fatal = str(exc)
                log.error("speech model refused", extra={"reason": str(exc)})
                raise
            s = self.settings
            self.transcriber = Transcriber(
                model, max_streams=s.max_concurrent_streams, max_channels=s.max_channels,
                max_seconds=s.max_audio_seconds,
                vad_aggressiveness=None if s.vad_aggressiveness < 0 else s.vad_aggressiveness,
                pause_s=s.pause_seconds, warm_up=s.warm_up, decoders=s.decoders)
            self.model = model
            log.info("speech model loaded", extra={"model": model.name, "lang": model.lang,
                                                   "sample_rate": model.sample_rate, "sha256": model.sha256})

    def _require(self) -> Transcriber:
        if self.transcriber is None:
            raise Unavailable(self._fatal or "speech model is still loading")
        return self.transcriber

    @property
    def _max_bytes(self) -> int:
        return self.settings.max_recording_mb * 1024 * 1024

    # -- RPCs ------------------------------------------------------------------------------------

    def GetModelInfo(self, request, context):
        transcriber = self._require()
        return transcriber_pb2.GetModelInfoResponse(model=transcriber.model.info(),
                                                    max_concurrent_streams=self.settings.max_concurrent_streams)

    def TranscribeRecording(self, request, context):
        transcriber = self._require()
        key = request.object_key
        _check_object_key(key)
        override = require_valid_layout(request.channel_layout)
        with transcriber.admitted():
            try:
                stored = self.store.get_json(layout.recording_metadata_key(key))
            except NotFound:
                raise NotFound(f"recording {key} not found (no metadata beside it)") from None
            try:
                recording = json_format.ParseDict(stored, recording_pb2.Recording(), ignore_unknown_fields=True)
            except (json_format.ParseError, TypeError, ValueError) as exc:
                raise FailedPrecondition(f"the stored metadata of {key} is unreadable") from exc
            check_consent(recording.metadata)
            size = self.store.stat(key).size
            if size > self._max_bytes:
                raise InvalidArgument(f"recording is {size} bytes; the limit is {self._max_bytes}")
            with tempfile.TemporaryDirectory(prefix="transcribe-") as tmp:
                path = Path(tmp) / ("audio" + Path(key).suffix.lower())
                digest = hashlib.sha256()
                with open(path, "wb") as out:
                    for chunk in self.store.iter_chunks(key):
                        if not context.is_active():
                            raise Cancelled("request cancelled")
                        digest.update(chunk)
                        out.write(chunk)
                transcript = transcriber.transcribe_file(
                    path, call_id=recording.metadata.call_id or Path(key).stem,
                    layout=override or recording.metadata.channel_layout,
                    is_active=context.is_active, deadline=_deadline(context))
        transcript.recording.CopyFrom(recording_pb2.RecordingRef(object_key=key, sha256=digest.hexdigest()))
        return transcriber_pb2.TranscribeRecordingResponse(transcript=transcript)

    def TranscribeStream(self, request_iterator, context):
        transcriber = self._require()
        first = next(request_iterator, None)
        if first is None:
            raise InvalidArgument("empty stream: send the config message first, then the audio")
        if first.WhichOneof("payload") != "config":
            raise InvalidArgument("the first message of the stream must be the config, not audio")
        metadata = first.config.metadata
        check_consent(metadata)
        require_valid_layout(metadata.channel_layout)
        with transcriber.admitted(), tempfile.TemporaryDirectory(prefix="transcribe-") as tmp:
            path = Path(tmp) / "audio"
            size = 0
            with open(path, "wb") as out:
                for message in request_iterator:
                    kind = message.WhichOneof("payload")
                    if kind == "config":
                        raise InvalidArgument("a second config message in the stream; send one config, then audio")
                    if kind != "audio_chunk":
                        raise InvalidArgument("a stream message without audio")
                    size += len(message.audio_chunk)
                    if size > self._max_bytes:
                        raise InvalidArgument(f"recording exceeds {self._max_bytes} bytes")
                    out.write(message.audio_chunk)
            if not context.is_active():
                raise Cancelled("request cancelled")
            transcript = transcriber.transcribe_file(
                path, call_id=metadata.call_id, layout=metadata.channel_layout,
                is_active=context.is_active, deadline=_deadline(context))
        return transcriber_pb2.TranscribeStreamResponse(transcript=transcript)


def create_server(settings: TranscriberSettings) -> tuple[GrpcService, int]:
    servicer = TranscriberServicer(settings)

    def register(server):
        transcriber_service_pb2_grpc.add_TranscriberServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)
    service.servicer = servicer  # for tests and the benchmark
    service.become_ready_when(servicer.load_model)
    return service, service.port


"""The transcriber's gRPC service."""

from __future__ import annotations

import logging
import threading

from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2, transcriber_service_pb2_grpc
from helpline_common.errors import Unavailable
from helpline_common.server import GrpcService
from helpline_transcriber import models
from helpline_transcriber.settings import TranscriberSettings

log = logging.getLogger(__name__)

SERVICE_NAME = transcriber_service_pb2.DESCRIPTOR.services_by_name["TranscriberService"].full_name


class TranscriberServicer(transcriber_service_pb2_grpc.TranscriberServiceServicer):
    def __init__(self, settings: TranscriberSettings):
        self.settings = settings
        self.model: models.SpeechModel | None = None
        self.vosk_model = None
        self._load_lock = threading.Lock()

    def load_model(self) -> None:
        """Load the Vosk model once per process (called by the readiness loop)."""
        with self._load_lock:
            if self.vosk_model is not None:
                return
            import vosk

            vosk.SetLogLevel(-1)
            described = models.describe(self.settings.model_dir)
            self.vosk_model = vosk.Model(str(described.path))
            self.model = described
            log.info("speech model loaded", extra={"model": described.name, "lang": described.lang})

    def _require_model(self) -> models.SpeechModel:
        if self.model is None:
            raise Unavailable("speech model is still loading")
        return self.model

    def GetModelInfo(self, request, context):
        return transcriber_pb2.GetModelInfoResponse(
            model=self._require_model().info(), max_concurrent_streams=self.settings.max_concurrent_streams)


def create_server(settings: TranscriberSettings) -> tuple[GrpcService, int]:
    servicer = TranscriberServicer(settings)

    def register(server):
        transcriber_service_pb2_grpc.add_TranscriberServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)
    service.become_ready_when(servicer.load_model)
    return service, service.port

"""The scorer's gRPC service: Score, GetProtocol, GetModelInfo.

The model is loaded in the background at start (`become_ready_when`): NOT_SERVING until it is.
Where it comes from (settings): MODEL_FILE (a local model.joblib with its card.json; development and
tests), else MODEL_VERSION from the store, else the promoted version in the store; when the store is
reachable but holds no promoted model, the bundled default model. Every path checks the file's hash
before unpickling it (registry.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading

from helpline.common.v1 import recording_pb2
from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2, scorer_service_pb2_grpc
from helpline_common.errors import InvalidArgument, Unavailable
from helpline_common.server import GrpcService
from helpline_common.storage import ObjectStore
from helpline_scorer import registry
from helpline_scorer.protocol import Protocol, load_protocol
from helpline_scorer.scoring import Scorer, to_proto
from helpline_scorer.settings import ScorerSettings
from helpline_scorer.transcript import call_from_proto

log = logging.getLogger(__name__)

SERVICE_NAME = scorer_service_pb2.DESCRIPTOR.services_by_name["ScorerService"].full_name


def load_model(settings: ScorerSettings) -> registry.LoadedModel:
    """The model the settings name (see the module docstring); raises until it can be loaded."""
    if settings.model_file is not None:
        return registry.load_local(settings.model_file, settings.model_sha256)
    store = ObjectStore(settings.store)
    models = registry.ModelRegistry(store)
    if settings.model_version:
        return models.load(settings.model_version, settings.model_cache_dir, settings.model_sha256)
    # a store that is down raises, and readiness retries
    return models.load_promoted_or_bundled(settings.model_cache_dir, settings.model_sha256)


class ScorerServicer(scorer_service_pb2_grpc.ScorerServiceServicer):
    def __init__(self, settings: ScorerSettings, protocol: Protocol):
        self.settings = settings
        self.protocol = protocol
        self._scorer: Scorer | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        loaded = load_model(self.settings)
        trained_for = loaded.card.get("protocol_version")
        if trained_for and trained_for.split(".")[0] != self.protocol.version.split(".")[0]:
            log.warning("model trained for another protocol major version",
                        extra={"model_protocol": trained_for, "protocol": self.protocol.version})
        with self._lock:
            self._scorer = Scorer(loaded, self.protocol)
        log.info("scorer model loaded", extra={"version": loaded.version, "sha256": loaded.sha256})

    def _ready(self) -> Scorer:
        if self._scorer is None:
            raise Unavailable("the scorer model is not loaded yet")
        return self._scorer

    def Score(self, request, context):
        scorer = self._ready()
        if not request.HasField("transcript"):
            raise InvalidArgument("transcript is required")
        call = call_from_proto(request.transcript)
        result = scorer.score(call)
        log.info("scored", extra={"segments": len(call.segments), "score": result.score, "band": result.band,
                                  "critical": list(result.critical), "model_version": result.model_version})
        return scorer_pb2.ScoreResponse(score=to_proto(result))

    def GetProtocol(self, request, context):
        p = self.protocol
        codes = [scorer_pb2.CodeDefinition(code_id=c, speaker=recording_pb2.SPEAKER_COUNSELOR, description=d)
                 for c, d in p.counselor_codes.items()]
        codes += [scorer_pb2.CodeDefinition(code_id=c, speaker=recording_pb2.SPEAKER_CALLER, description=d)
                  for c, d in p.caller_codes.items()]
        criteria = [scorer_pb2.CriterionDefinition(criterion_id=c.id, description=c.description, weight=c.weight,
                                                   critical=c.critical_flag is not None,
                                                   critical_flag=c.critical_flag or "")
                    for c in p.criteria]
        return scorer_pb2.GetProtocolResponse(version=p.version, codes=codes, criteria=criteria,
                                              source_yaml=p.source_yaml)

    def GetModelInfo(self, request, context):
        loaded = self._ready().loaded
        info = scorer_pb2.ScorerModelInfo(version=loaded.version, sha256=loaded.sha256,
                                          protocol_version=loaded.card.get("protocol_version", ""),
                                          metrics={k: float(v) for k, v in loaded.card.get("metrics", {}).items()})
        trained_at = loaded.card.get("trained_at")
        if trained_at:
            info.trained_at.FromDatetime(dt.datetime.fromisoformat(trained_at).astimezone(dt.UTC))
        return scorer_pb2.GetModelInfoResponse(model=info)


def create_server(settings: ScorerSettings) -> tuple[GrpcService, int]:
    servicer = ScorerServicer(settings, load_protocol(settings.protocol_file))

    def register(server):
        scorer_service_pb2_grpc.add_ScorerServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)
    service.servicer = servicer
    service.become_ready_when(servicer.load, interval_s=2.0)
    return service, service.port

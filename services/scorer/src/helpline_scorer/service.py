"""The scorer's gRPC service."""

from __future__ import annotations

import logging

from helpline.common.v1 import recording_pb2
from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2, scorer_service_pb2_grpc
from helpline_common.server import GrpcService
from helpline_scorer.protocol import Protocol, load_protocol
from helpline_scorer.settings import ScorerSettings

log = logging.getLogger(__name__)

SERVICE_NAME = scorer_service_pb2.DESCRIPTOR.services_by_name["ScorerService"].full_name


class ScorerServicer(scorer_service_pb2_grpc.ScorerServiceServicer):
    def __init__(self, settings: ScorerSettings, protocol: Protocol):
        self.settings = settings
        self.protocol = protocol

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


def create_server(settings: ScorerSettings) -> tuple[GrpcService, int]:
    servicer = ScorerServicer(settings, load_protocol(settings.protocol_file))

    def register(server):
        scorer_service_pb2_grpc.add_ScorerServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)
    service.become_ready_when(lambda: None)  # the scorer issue adds model loading here
    return service, service.port

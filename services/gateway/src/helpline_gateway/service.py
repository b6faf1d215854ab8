"""The gateway's gRPC service."""

from __future__ import annotations

import logging

from helpline.gateway.v1 import gateway_service_pb2, gateway_service_pb2_grpc
from helpline_common.auth import Principal, Role, authenticate
from helpline_common.server import GrpcService
from helpline_common.storage import ObjectStore
from helpline_gateway import ingest
from helpline_gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

SERVICE_NAME = gateway_service_pb2.DESCRIPTOR.services_by_name["GatewayService"].full_name


class GatewayServicer(gateway_service_pb2_grpc.GatewayServiceServicer):
    def __init__(self, settings: GatewaySettings, store: ObjectStore):
        self.settings = settings
        self.store = store

    def _principal(self, context) -> Principal:
        return authenticate(context, self.settings.token_signing_key.get_secret_value())

    def IngestRecording(self, request_iterator, context):
        principal = self._principal(context)
        principal.require_role(Role.UPLOADER, Role.ADMIN)
        return ingest.ingest(request_iterator, self.store, self.settings, principal.require_region)


def create_server(settings: GatewaySettings) -> tuple[GrpcService, int]:
    store = ObjectStore(settings.store)
    servicer = GatewayServicer(settings, store)

    def register(server):
        gateway_service_pb2_grpc.add_GatewayServiceServicer_to_server(servicer, server)
        return [SERVICE_NAME]

    service = GrpcService(settings, register)
    service.become_ready_when(store.ensure_bucket)
    return service, service.port

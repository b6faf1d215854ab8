"""The gRPC server runtime every service uses.

A service builds a `GrpcService` in its `create_server(settings)`: a bounded thread pool, a cap on
concurrent RPCs (past it, RESOURCE_EXHAUSTED at once), explicit message size limits, health (NOT_SERVING
until the service says it is ready), reflection, the shared interceptor and the metrics endpoint.
`run_until_signalled` is the whole of a service's `main`: serve, and on SIGTERM/SIGINT report
NOT_SERVING, drain for the grace period and stop.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from helpline_common.interceptors import ServiceInterceptor
from helpline_common.metrics import serve_metrics
from helpline_common.settings import ServerSettings

log = logging.getLogger(__name__)


class GrpcService:
    """A configured, not yet started gRPC server with health and reflection."""

    def __init__(self, settings: ServerSettings, register: Callable[[grpc.Server], Iterable[str]]):
        """`register` adds the servicers to the server and returns their full service names."""
        self.settings = settings
        max_bytes = settings.max_message_mb * 1024 * 1024
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="rpc"),
            interceptors=[ServiceInterceptor()],
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", max_bytes),
                ("grpc.max_send_message_length", max_bytes),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.service_names = list(register(self.server))
        self.health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            [*self.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        self._set_status(health_pb2.HealthCheckResponse.NOT_SERVING)
        address = f"{settings.host}:{settings.port}"
        if settings.tls_cert_file:
            credentials = grpc.ssl_server_credentials(
                [(settings.tls_key_file.read_bytes(), settings.tls_cert_file.read_bytes())])
            self.port = self.server.add_secure_port(address, credentials)
        else:
            self.port = self.server.add_insecure_port(address)
        if self.port == 0:
            raise RuntimeError(f"cannot bind gRPC port {address}")
        self.metrics_port: int | None = None
        self._stopping = threading.Event()
        self._stop_callbacks: list[Callable[[], None]] = []

    def _set_status(self, status) -> None:
        for name in ("", *self.service_names):
            self.health.set(name, status)

    def start(self) -> None:
        self.server.start()
        if self.settings.metrics_port >= 0 and self.metrics_port is None:
            self.metrics_port = serve_metrics(self.settings.metrics_port, self.settings.metrics_host)
        log.info("listening", extra={"port": self.port, "metrics_port": self.metrics_port,
                                     "tls": self.settings.tls_cert_file is not None})

    def set_serving(self) -> None:
        """Call once the service can do real work (model loaded, store reachable)."""
        self._set_status(health_pb2.HealthCheckResponse.SERVING)
        log.info("serving")

    def become_ready_when(self, check: Callable[[], None], interval_s: float = 1.0) -> threading.Thread:
        """Run `check` in the background until it stops raising, then report SERVING.

        Model loading and store checks happen here, so the server answers health (NOT_SERVING)
        from the first second and a store outage at start-up only delays readiness.
        """

        def _loop():
            while not self._stopping.is_set():
                try:
                    check()
                except Exception as exc:  # noqa: BLE001 - reported and retried
                    log.warning("not ready yet", extra={"reason": type(exc).__name__, "detail": str(exc)[:200]})
                    self._stopping.wait(interval_s)
                    continue
                if not self._stopping.is_set():
                    self.set_serving()
                return

        thread = threading.Thread(target=_loop, name="readiness", daemon=True)
        thread.start()
        return thread

    def add_background_loop(self, work: Callable[[], None], interval_s: float) -> threading.Thread:
        """Run `work` every `interval_s` seconds until shutdown (errors are logged, the loop goes on)."""

        def _loop():
            while not self._stopping.wait(interval_s):
                try:
                    work()
                except Exception:  # noqa: BLE001 - a background duty must not die
                    log.exception("background work failed")

        thread = threading.Thread(target=_loop, name="background", daemon=True)
        thread.start()
        return thread

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` at shutdown, after NOT_SERVING and before the server stops."""
        self._stop_callbacks.append(callback)

    def begin_shutdown(self) -> None:
        """Report NOT_SERVING everywhere so load balancers stop sending work."""
        self._stopping.set()
        self.health.enter_graceful_shutdown()

    def stop(self, grace: float | None = None) -> threading.Event:
        self.begin_shutdown()
        for callback in self._stop_callbacks:
            try:
                callback()
            except Exception:  # noqa: BLE001 - shutdown goes on
                log.exception("stop callback failed")
        return self.server.stop(self.settings.grace_seconds if grace is None else grace)


def run_until_signalled(service: GrpcService, on_stop: Callable[[], None] | None = None) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    stopping = threading.Event()

    def _handle(signum, _frame):
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        stopping.set()

    signal.signal(signal.SIGTERM, _handle)
    signal.signal(signal.SIGINT, _handle)
    service.start()
    stopping.wait()
    done = service.stop()
    if on_stop is not None:
        on_stop()
    done.wait()
    log.info("stopped")


def serve_main(settings_cls: type[ServerSettings], create_server) -> None:
    """The whole `main` of a service: settings, logging, server, signals."""
    from helpline_common.logs import configure_logging
    from helpline_common.settings import load_settings

    settings = load_settings(settings_cls)
    configure_logging(settings.log_level)
    service, _port = create_server(settings)
    run_until_signalled(service)

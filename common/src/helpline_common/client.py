"""Calling other services: deadlines always, retries only where they are safe, round-robin.

`ServiceClient(addresses, StubClass)` keeps one channel per address and sends each call to the next
one. A single `dns:///name:port` address (a Kubernetes headless Service) is balanced over all its pods
by gRPC's own round_robin policy. Retries happen only on UNAVAILABLE and DEADLINE_EXCEEDED, with
exponential backoff and jitter; every other status goes straight back to the caller.
"""

from __future__ import annotations

import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc

log = logging.getLogger(__name__)

RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})


def channel_options(max_message_mb: int = 64) -> list[tuple[str, Any]]:
    max_bytes = max_message_mb * 1024 * 1024
    return [
        ("grpc.lb_policy_name", "round_robin"),
        ("grpc.max_receive_message_length", max_bytes),
        ("grpc.max_send_message_length", max_bytes),
        ("grpc.enable_retries", 0),  # retries are ours, so they are counted and bounded in one place
    ]


def open_channel(address: str, *, root_cert: Path | None = None, max_message_mb: int = 64) -> grpc.Channel:
    options = channel_options(max_message_mb)
    if root_cert is not None:
        creds = grpc.ssl_channel_credentials(root_certificates=root_cert.read_bytes())
        return grpc.secure_channel(address, creds, options=options)
    return grpc.insecure_channel(address, options=options)


class ServiceClient:
    """Stubs over several addresses with deadlines, bounded retries and round-robin."""

    def __init__(self, addresses: Iterable[str], stub_class: Callable[[grpc.Channel], Any], *,
                 root_cert: Path | None = None, max_message_mb: int = 64,
                 retries: int = 3, backoff_s: float = 0.25, max_backoff_s: float = 5.0):
        self.addresses = [a.strip() for a in addresses if a.strip()]
        if not self.addresses:
            raise ValueError("at least one address is needed")
        self._channels = [open_channel(a, root_cert=root_cert, max_message_mb=max_message_mb)
                          for a in self.addresses]
        self._stubs = [stub_class(ch) for ch in self._channels]
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s

    def _next_stub(self):
        with self._lock:
            return self._stubs[next(self._turn) % len(self._stubs)]

    def call(self, method: str, request: Any, *, timeout: float,
             metadata: list[tuple[str, str]] | None = None, retries: int | None = None,
             cancelled: threading.Event | None = None) -> Any:
        """Call `method` with a deadline of `timeout` seconds per attempt.

        For a client-streaming method pass a zero-argument callable that returns a fresh request
        iterator, so that a retry can send the stream again.
        """
        attempts = (self.retries if retries is None else retries) + 1
        for attempt in range(attempts):
            stub = self._next_stub()
            payload = request() if callable(request) else request
            try:
                return getattr(stub, method)(payload, timeout=timeout, metadata=metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                if code not in RETRYABLE or attempt == attempts - 1 or (cancelled and cancelled.is_set()):
                    raise
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** attempt) * (0.5 + random.random())
                log.info("retrying", extra={"method": method, "code": code.name, "attempt": attempt + 1,
                                            "delay_s": round(delay, 2)})
                time.sleep(delay)
        raise AssertionError("unreachable")

    def stub(self):
        """A stub for calls that need the raw API (server streaming); deadlines are the caller's duty."""
        return self._next_stub()

    def close(self) -> None:
        for ch in self._channels:
            ch.close()


def wait_until_serving(channel: grpc.Channel, timeout_s: float = 60.0, service: str = "",
                       still_alive: Callable[[], bool] | None = None) -> None:
    """Poll gRPC health until SERVING; TimeoutError after `timeout_s`, RuntimeError if `still_alive()` fails."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(channel)
    deadline = time.monotonic() + timeout_s
    while True:
        if still_alive is not None and not still_alive():
            raise RuntimeError("the service process exited")
        try:
            if stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2).status == \
                    health_pb2.HealthCheckResponse.SERVING:
                return
        except grpc.RpcError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("service did not become SERVING")
        time.sleep(0.05)

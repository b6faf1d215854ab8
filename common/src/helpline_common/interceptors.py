"""One server interceptor for every service: status mapping, request logging, metrics.

- `HelplineError` subclasses become their gRPC status with their (safe) message.
- Anything unexpected becomes INTERNAL "internal error"; the traceback is logged, the caller sees nothing of it.
- One log line per RPC: method, status, duration. Never the request or response payload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import grpc

from helpline_common.errors import HelplineError
from helpline_common.metrics import RPC_IN_FLIGHT, RPC_SECONDS, RPC_TOTAL

log = logging.getLogger(__name__)

# Health checks and reflection are polled constantly; they are counted but not logged.
_QUIET_PREFIXES = ("/grpc.health.", "/grpc.reflection.")


_BACKEND_DOWN = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class _RpcScope:
    """Bookkeeping for one RPC: in-flight gauge, latency, final status, log line."""

    def __init__(self, method: str):
        self.service, _, self.name = method.lstrip("/").rpartition("/")
        self.quiet = method.startswith(_QUIET_PREFIXES)
        self.start = time.perf_counter()
        RPC_IN_FLIGHT.labels(self.service, self.name).inc()

    def fail(self, exc: BaseException, context: grpc.ServicerContext) -> None:
        """Abort the RPC with the status that `exc` deserves (raises)."""
        if isinstance(exc, HelplineError):
            context.abort(exc.code, str(exc))
        if isinstance(exc, grpc.Call) and exc.code() in _BACKEND_DOWN:
            # A service this one calls is down or slow: the client may retry, unlike after an INTERNAL.
            log.warning("%s: a backend answered %s", self.name, exc.code().name)
            context.abort(grpc.StatusCode.UNAVAILABLE, "a service this call needs is unavailable; try again later")
        code = context.code()
        if code not in (None, grpc.StatusCode.OK):
            raise exc  # the handler already aborted with its own status
        log.error("unhandled error in %s", self.name, exc_info=exc)
        context.abort(grpc.StatusCode.INTERNAL, "internal error")

    def finish(self, context: grpc.ServicerContext) -> None:
        code = context.code() or grpc.StatusCode.OK
        if not context.is_active() and code == grpc.StatusCode.OK:
            code = grpc.StatusCode.CANCELLED
        elapsed = time.perf_counter() - self.start
        RPC_IN_FLIGHT.labels(self.service, self.name).dec()
        RPC_SECONDS.labels(self.service, self.name).observe(elapsed)
        RPC_TOTAL.labels(self.service, self.name, code.name).inc()
        if not self.quiet:
            level = logging.WARNING if code == grpc.StatusCode.INTERNAL else logging.INFO
            log.log(level, "rpc %s", self.name,
                    extra={"rpc_service": self.service, "code": code.name, "ms": round(elapsed * 1000, 1)})


def _wrap_unary_response(behavior: Callable, method: str) -> Callable:
    def handler(request_or_iterator, context):
        scope = _RpcScope(method)
        try:
            return behavior(request_or_iterator, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status below
            scope.fail(exc, context)
        finally:
            scope.finish(context)

    return handler


def _wrap_stream_response(behavior: Callable, method: str) -> Callable:
    def handler(request_or_iterator, context) -> Iterator:
        scope = _RpcScope(method)
        try:
            yield from behavior(request_or_iterator, context)
        except Exception as exc:  # noqa: BLE001 - mapped to a status below
            scope.fail(exc, context)
        finally:
            scope.finish(context)

    return handler


class ServiceInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary_response(handler.unary_unary, method),
                handler.request_deserializer, handler.response_serializer)
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary_response(handler.stream_unary, method),
                handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream_response(handler.unary_stream, method),
                handler.request_deserializer, handler.response_serializer)
        return grpc.stream_stream_rpc_method_handler(
            _wrap_stream_response(handler.stream_stream, method),
            handler.request_deserializer, handler.response_serializer)

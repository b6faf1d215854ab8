"""Prometheus metrics of every gRPC service, served over HTTP on the metrics port."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RPC_TOTAL = Counter("helpline_rpc_total", "RPCs handled", ["service", "method", "code"])
RPC_SECONDS = Histogram(
    "helpline_rpc_seconds", "RPC latency", ["service", "method"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
RPC_IN_FLIGHT = Gauge("helpline_rpc_in_flight", "RPCs being handled", ["service", "method"])


def serve_metrics(port: int, host: str = "0.0.0.0") -> int:
    """Start the /metrics HTTP endpoint; returns the bound port (useful with port 0)."""
    server, _thread = start_http_server(port, addr=host)
    return server.server_address[1]

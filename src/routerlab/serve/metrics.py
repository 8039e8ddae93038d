"""The gateway's Prometheus metrics (``GET /metrics``, text exposition format), with prometheus_client.

Counters (``_total``):

* ``routerlab_requests_total{status, policy}``: chat requests by final HTTP status and policy kind
  (``lambda``, ``budget``, ``model`` for a pass-through, ``none`` for a request refused before its
  policy was known). The kind, not ``lambda=0.3``: a label's values must stay few.
* ``routerlab_decisions_total{model}``: routed requests by the model the policy chose first (after
  exploration), whether or not it answered.
* ``routerlab_answers_total{model}``: requests answered by ``model`` (any upstream status but a
  429/5xx; a streamed answer counts when its stream opened).
* ``routerlab_fallbacks_total{from_model}``: moves from a model to the next one of the ranking
  (failed, skipped by its open circuit, or no concurrency slot in time).
* ``routerlab_upstream_errors_total{model, error}``: failed upstream calls, ``error`` the status
  (``429``, ``500``...) or the exception class (``ConnectError``, ``ReadTimeout``...).
* ``routerlab_cost_usd_total{model}``: the cost of the answers that reported ``usage``.

Histograms: ``routerlab_request_latency_seconds`` (a chat request, start to response; a stream to
its end) and ``routerlab_upstream_latency_seconds{model}`` (one upstream call, to its status line).
Gauges: ``routerlab_breaker_state{model}`` (0 closed, 1 half-open, 2 open; :mod:`.breaker`) and
``routerlab_in_flight_requests`` (chat requests being served).

**Registries.** Each app has its own :class:`~prometheus_client.CollectorRegistry` (many apps may
live in one process, as in the tests). **Several workers**: when ``PROMETHEUS_MULTIPROC_DIR`` is set
(``routerlab serve --workers N`` sets it to a fresh temporary folder), prometheus_client's
multiprocess mode writes each worker's values to files there and a scrape, answered by any worker,
adds the counters and histograms of all workers, dead ones included (totals since start). The gauges
are per-process values combined over the *live* workers: in-flight requests are summed
(``livesum``), a breaker reads the worst state any worker holds (``livemax``: each worker has its
own breakers, see :mod:`.breaker`). A worker marks itself dead when it stops.
"""

from __future__ import annotations

import os
from typing import Any

from routerlab._optional import optional_dependency

__all__ = ["MULTIPROC_ENV", "GatewayMetrics", "policy_kind"]

#: the environment variable that switches prometheus_client to multiprocess mode
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_EXTRA = "routerlab serve's /metrics needs prometheus-client: pip install 'routerlab[serve]' ({exc})"
#: upstream latency buckets (seconds): loopback answers to slow generations
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def policy_kind(policy: str | None) -> str:
    """The ``policy`` label: ``lambda``/``budget`` (of ``lambda=0.3``), ``model``, or ``none``."""
    if policy is None:
        return "none"
    return policy.partition("=")[0]


class GatewayMetrics:
    """The metrics of one gateway app (see the module doc)."""

    def __init__(self) -> None:
        with optional_dependency(_EXTRA):
            from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.multiprocess = MULTIPROC_ENV in os.environ
        self.registry = CollectorRegistry()
        reg = self.registry
        self.requests = Counter(
            "routerlab_requests", "Chat requests by final status and policy kind.", ["status", "policy"], registry=reg
        )
        self.decisions = Counter(
            "routerlab_decisions", "Routed requests by the model chosen first.", ["model"], registry=reg
        )
        self.answers = Counter("routerlab_answers", "Requests answered, by model.", ["model"], registry=reg)
        self.fallbacks = Counter(
            "routerlab_fallbacks", "Moves from a model to the next of the ranking.", ["from_model"], registry=reg
        )
        self.upstream_errors = Counter(
            "routerlab_upstream_errors", "Failed upstream calls by model and error.", ["model", "error"], registry=reg
        )
        self.cost = Counter("routerlab_cost_usd", "Cost of the answers (USD), by model.", ["model"], registry=reg)
        self.request_latency = Histogram(
            "routerlab_request_latency_seconds", "Chat request latency.", buckets=_BUCKETS, registry=reg
        )
        self.upstream_latency = Histogram(
            "routerlab_upstream_latency_seconds",
            "Upstream call latency, by model.",
            ["model"],
            buckets=_BUCKETS,
            registry=reg,
        )
        self.breaker_state = Gauge(
            "routerlab_breaker_state",
            "Circuit breaker state by model: 0 closed, 1 half-open, 2 open.",
            ["model"],
            registry=reg,
            multiprocess_mode="livemax",
        )
        self.in_flight = Gauge(
            "routerlab_in_flight_requests", "Chat requests being served.", registry=reg, multiprocess_mode="livesum"
        )

    def request(self, *, status: int, policy: str | None, latency_s: float) -> None:
        """One finished chat request."""
        self.requests.labels(status=str(status), policy=policy_kind(policy)).inc()
        self.request_latency.observe(latency_s)

    def attempts(self, attempts: list[dict[str, Any]], *, answered_by: str | None) -> None:
        """A request's upstream attempts (the decision log's ``attempts``): fallbacks and the answer."""
        for previous in attempts[:-1]:  # every attempt but the last was followed by another
            self.fallbacks.labels(from_model=previous["model"]).inc()
        if answered_by is not None:
            self.answers.labels(model=answered_by).inc()

    def cost_usd(self, model: str, cost: float | None) -> None:
        """Add an answer's cost (nothing when unknown)."""
        if cost is not None:
            self.cost.labels(model=model).inc(cost)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type: this app's registry, or all workers' in multiprocess mode."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess

        if not self.multiprocess:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        return generate_latest(merged), CONTENT_TYPE_LATEST

    def stop(self) -> None:
        """At process exit in multiprocess mode: drop this worker's live gauges from later scrapes."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]

"""loadtest's own metrics pushed over OTLP/HTTP (`--otlp URL`; `pip install
'loadtest[otel]'`), named as OpenTelemetry's GenAI semantic conventions name a client's
metrics where they have a name: TTFT is gen_ai.client.operation.time_to_first_chunk,
ITL gen_ai.client.operation.time_per_output_chunk, E2E gen_ai.client.operation.duration,
tokens gen_ai.client.token.usage, with gen_ai.operation.name, gen_ai.provider.name and
gen_ai.request.model; the rest are loadtest.* names.

The histograms are built from the same cumulative state the Prometheus endpoint serves
(loadtest.prom_export.Exporter, fed per interval) and handed to the SDK's OTLP exporter
as data points, not recorded value by value: the SDK's Histogram.record took 7.5 us a
value here, and one value per content event (ITL) at 300 requests/s of 100 tokens is
30,000 a second, a fifth of a core. A thread of its own pushes every PERIOD_S and once
at the end, so a slow or absent collector never holds up the load.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from loadtest.errors import ConfigError
from loadtest.metrics import E2E, ITL, TTFT
from loadtest.prom_export import Exporter, TargetState

PERIOD_S = 10.0  # between pushes; the last comes when the run or scheduler ends
HISTOGRAMS = {
    TTFT: (
        "gen_ai.client.operation.time_to_first_chunk",
        "Time to the first content event, from the send.",
    ),
    ITL: ("gen_ai.client.operation.time_per_output_chunk", "Each gap between content events."),
    E2E: ("gen_ai.client.operation.duration", "Whole requests, send to last byte."),
}
# gen_ai.provider.name's well-known values, by target kind; others are sent as the kind
PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "openai-responses": "openai"}


def endpoint(url: str) -> str:
    """The metrics URL of an OTLP/HTTP collector at URL (its /v1/metrics unless URL has a
    path); ConfigError for a URL that is not http(s)."""
    from loadtest import redact

    if not redact.is_http_url(url):
        raise ConfigError(
            "--otlp: expected an http(s) URL such as http://127.0.0.1:4318, "
            f"got {redact.url(url)!r}"
        )
    head, sep, path = url.partition("://")
    host, _, rest = path.partition("/")
    return url if rest.strip("/") else f"{head}{sep}{host}/v1/metrics"


def _attributes(t: TargetState) -> dict[str, str]:
    target, model, kind, profile = t.labels
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": PROVIDERS.get(kind, kind),
        "gen_ai.request.model": model,
        "loadtest.target": target,
        "loadtest.profile": profile,
    }


class OtlpPusher:
    """Pushes EXPORTER's metrics to an OTLP/HTTP collector until closed."""

    def __init__(self, exporter: Exporter, url: str, period_s: float = PERIOD_S) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
        except ImportError:
            raise ConfigError(
                "--otlp: the OpenTelemetry SDK is not installed (pip install 'loadtest[otel]')"
            ) from None
        self.url = endpoint(url)
        self._source = exporter
        # Headers and TLS from the OTEL_EXPORTER_OTLP_* variables, as the SDK reads them.
        self._otlp = OTLPMetricExporter(endpoint=self.url, timeout=5)
        self._period = period_s
        self._start_ns = time.time_ns()
        self._stop = threading.Event()
        self.pushes = 0
        self.failures = 0
        self._thread = threading.Thread(target=self._run, name="otlp-push", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """The last push (what the run ended with), then the thread ends."""
        self._stop.set()
        self._thread.join(15)
        self.push()
        self._otlp.shutdown()

    def _run(self) -> None:
        while not self._stop.wait(self._period):
            self.push()

    def push(self) -> bool:
        """Export the metrics as they are now; whether the collector took them."""
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = self.metrics_data()
        if data is None:
            return True
        try:
            ok = self._otlp.export(data) == MetricExportResult.SUCCESS
        except Exception:  # the SDK logs why; a push that fails is counted, the next one goes
            ok = False
        self.pushes += 1
        self.failures += 0 if ok else 1
        return ok

    def metrics_data(self) -> Any:
        """The SDK's MetricsData of everything so far (cumulative); None before any."""
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from loadtest import __version__

        targets, runs, health = self._source.snapshot()
        if not targets and not runs:
            return None
        now = time.time_ns()
        metrics = list(self._metrics(targets, runs, health, now))
        scope = ScopeMetrics(InstrumentationScope("loadtest", __version__), metrics, "")
        resource = Resource.create({"service.name": "loadtest"})
        return MetricsData([ResourceMetrics(resource, [scope], "")])

    def _metrics(
        self,
        targets: list[TargetState],
        runs: dict[tuple[str, str], int],
        health: dict[str, float],
        now: int,
    ) -> Iterator[Any]:
        from opentelemetry.sdk.metrics.export import (
            AggregationTemporality,
            Gauge,
            Histogram,
            HistogramDataPoint,
            Metric,
            NumberDataPoint,
            Sum,
        )

        cumulative = AggregationTemporality.CUMULATIVE
        start = self._start_ns

        def point(attrs: dict[str, str], value: float) -> NumberDataPoint:
            return NumberDataPoint(attrs, start, now, value)

        labelled = [(t, _attributes(t)) for t in targets]
        for metric, (name, text) in HISTOGRAMS.items():
            points = []
            for t, attrs in labelled:
                h = t.hists.get(metric)
                if h is None or not sum(h.counts):
                    continue
                points.append(
                    HistogramDataPoint(
                        attrs, start, now, sum(h.counts), h.sum_s,
                        list(h.counts), list(h.bounds), h.min_s, h.max_s,
                    )
                )  # fmt: skip
            if points:
                yield Metric(name, text, "s", Histogram(points, cumulative))
        # Tokens: per request in the conventions; loadtest keeps the totals, so each
        # point has one bucket, its count the completed requests and its sum the tokens.
        tokens = []
        for t, attrs in labelled:
            done = t.outcomes["completed"]
            for kind in ("input", "output"):
                if done:
                    typed = {**attrs, "gen_ai.token.type": kind}
                    n = t.tokens[kind]
                    tokens.append(HistogramDataPoint(typed, start, now, done, n, [done], [], 0, n))
        if tokens:
            yield Metric(
                "gen_ai.client.token.usage", "Tokens, by the servers' usage.", "{token}",
                Histogram(tokens, cumulative),
            )  # fmt: skip

        def counter(name: str, text: str, unit: str, points: list[NumberDataPoint]) -> Any:
            return Metric(name, text, unit, Sum(points, cumulative, True))

        requests = [
            point({**attrs, "loadtest.outcome": outcome}, t.outcomes[outcome])
            for t, attrs in labelled
            for outcome in ("completed", "failed")
        ]
        if requests:
            yield counter(
                "loadtest.requests", "Requests recorded, by outcome.", "{request}", requests
            )
        errors = [
            point({**attrs, "error.type": error}, n)
            for t, attrs in labelled
            for error, n in sorted(t.errors.items())
        ]
        if errors:
            yield counter("loadtest.errors", "Failed requests by error class.", "{request}", errors)
        remaining = [
            point({**attrs, "loadtest.header": header}, value)
            for t, attrs in labelled
            for header, value in sorted(t.remaining.items())
        ]
        if remaining:
            yield Metric(
                "loadtest.rate_limit.remaining", "The latest rate-limit headroom.", "1",
                Gauge(remaining),
            )  # fmt: skip
        finished = [
            point({"loadtest.profile": p, "loadtest.outcome": o}, n)
            for (p, o), n in sorted(runs.items())
        ]
        if finished:
            yield counter("loadtest.runs", "Runs finished, by outcome.", "{run}", finished)
        for prom_name, value in sorted(health.items()):
            name = "loadtest.client." + prom_name.removeprefix("loadtest_client_")
            yield Metric(name, "The client's own health over the last interval.", "1",
                         Gauge([point({}, value)]))  # fmt: skip

"""A serving engine's own Prometheus metrics, read the way loadtest reads its own.

Pure: the text of one scrape becomes a Snapshot (parsed with prometheus_client's text
parser), two snapshots a Delta (what the server did between them), a Delta's histograms
percentiles. vLLM, SGLang, TGI and llama.cpp name the same things differently; KNOWN
maps their names to ours (ttft, itl, e2e, queue, prefill; running, waiting, kv_cache;
preemptions, prefix-cache hits and queries, requests). Any other counter or gauge is
kept raw, under its own name, for the run as a whole.

Percentiles from a Prometheus histogram are interpolated inside its buckets, as
Prometheus's own histogram_quantile() does: exact only at the bucket bounds, so they
are reported as estimates. A histogram's mean (its _sum over its _count) is exact.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

# Ours -> (server, family name) in the order they are tried. Counter families are named
# as prometheus_client names them, without the _total suffix.
HISTOGRAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "ttft": (
        ("vllm", "vllm:time_to_first_token_seconds"),
        ("sglang", "sglang:time_to_first_token_seconds"),
    ),
    "itl": (
        ("vllm", "vllm:inter_token_latency_seconds"),
        ("vllm", "vllm:time_per_output_token_seconds"),
        ("sglang", "sglang:inter_token_latency_seconds"),
        ("sglang", "sglang:time_per_output_token_seconds"),
        ("tgi", "tgi_request_mean_time_per_token_duration"),
    ),
    "e2e": (
        ("vllm", "vllm:e2e_request_latency_seconds"),
        ("sglang", "sglang:e2e_request_latency_seconds"),
        ("tgi", "tgi_request_duration"),
    ),
    "queue": (
        ("vllm", "vllm:request_queue_time_seconds"),
        ("sglang", "sglang:queue_time_seconds"),
        ("tgi", "tgi_request_queue_duration"),
    ),
    "prefill": (("vllm", "vllm:request_prefill_time_seconds"),),
}
GAUGES: dict[str, tuple[tuple[str, str], ...]] = {
    "running": (
        ("vllm", "vllm:num_requests_running"),
        ("sglang", "sglang:num_running_reqs"),
        ("tgi", "tgi_batch_current_size"),
        ("llama.cpp", "llamacpp:requests_processing"),
    ),
    "waiting": (
        ("vllm", "vllm:num_requests_waiting"),
        ("sglang", "sglang:num_queue_reqs"),
        ("tgi", "tgi_queue_size"),
        ("llama.cpp", "llamacpp:requests_deferred"),
    ),
    "kv_cache": (  # a fraction of the cache in use, 0 to 1
        ("vllm", "vllm:kv_cache_usage_perc"),
        ("vllm", "vllm:gpu_cache_usage_perc"),  # before vLLM 0.10
        ("sglang", "sglang:token_usage"),
        ("llama.cpp", "llamacpp:kv_cache_usage_ratio"),
    ),
}
COUNTERS: dict[str, tuple[tuple[str, str], ...]] = {
    "requests": (
        ("vllm", "vllm:request_success"),
        ("sglang", "sglang:num_requests"),
        ("tgi", "tgi_request_success"),
    ),
    "preemptions": (("vllm", "vllm:num_preemptions"), ("vllm", "vllm:num_preemption")),
    "prefix_cache_hits": (
        ("vllm", "vllm:prefix_cache_hits"),
        ("vllm", "vllm:gpu_prefix_cache_hits"),
    ),
    "prefix_cache_queries": (
        ("vllm", "vllm:prefix_cache_queries"),
        ("vllm", "vllm:gpu_prefix_cache_queries"),
    ),
}
_FAMILIES = {
    name
    for table in (HISTOGRAMS, GAUGES, COUNTERS)
    for pairs in table.values()
    for _, name in pairs
}
# A scrape taken during the load keeps only the lines of these families (one regex over
# the text, in C) before prometheus_client parses it: vLLM's full output is some 100 kB,
# and the load's own loop shares the interpreter with the thread that parses it.
_NAMES = "|".join(sorted((re.escape(n) for n in _FAMILIES), key=len, reverse=True))
# Their samples, and their TYPE lines (without which a histogram's _bucket lines would
# be read as families of their own).
_KNOWN_LINE = re.compile(
    rf"^(?:# TYPE (?:{_NAMES})(?:_total)? .*|(?:{_NAMES})(?:_bucket|_sum|_count|_total)?[{{ ].*)$",
    re.MULTILINE,
)
RAW_LIMIT = 200  # other counters and gauges kept raw, at most


@dataclass(frozen=True)
class Hist:
    """A cumulative Prometheus histogram: upper bounds (the last +inf), counts, sum."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]  # cumulative, one per bound
    sum: float

    @property
    def count(self) -> float:
        """Observations in all."""
        return self.counts[-1] if self.counts else 0.0

    def minus(self, earlier: Hist | None) -> Hist:
        """What was observed since EARLIER; all of this one when the server restarted
        in between (a count went down) or its buckets changed."""
        if earlier is None or earlier.bounds != self.bounds:
            return self
        counts = tuple(a - b for a, b in zip(self.counts, earlier.counts, strict=True))
        if any(c < 0 for c in counts):
            return self
        return Hist(self.bounds, counts, self.sum - earlier.sum)

    def plus(self, other: Hist) -> Hist:
        """Both together (the same buckets), or this one alone when they differ."""
        if other.bounds != self.bounds:
            return self
        counts = tuple(a + b for a, b in zip(self.counts, other.counts, strict=True))
        return Hist(self.bounds, counts, self.sum + other.sum)

    def mean(self) -> float | None:
        """The exact mean (sum / count); None when empty."""
        n = self.count
        return self.sum / n if n > 0 else None

    def in_first_bucket(self, q: float) -> bool:
        """Whether the Q-quantile falls in the first bucket, from 0 to its bound: all
        that is known of it then is that it is at most that bound (vLLM's queue and
        prefill buckets start at 300 ms, where a CPU server's queue time is 0.01 ms;
        an interpolation would say 150 ms for the median)."""
        n = self.count
        return n > 0 and bool(self.counts) and self.counts[0] >= q * n and self.bounds[0] > 0

    def estimate(self, q: float) -> tuple[float | None, bool]:
        """The Q-quantile as loadtest reports it, and whether it is only a bound: the
        first bucket's bound when it falls there (in_first_bucket), else quantile()."""
        if self.in_first_bucket(q):
            return self.bounds[0], True
        return self.quantile(q), False

    def quantile(self, q: float) -> float | None:
        """The Q-quantile interpolated linearly inside its bucket, as Prometheus's
        histogram_quantile() does (the first bucket from 0; a rank in the +Inf bucket
        gives the highest finite bound). None when empty."""
        n = self.count
        if n <= 0:
            return None
        rank = q * n
        i = bisect_left(self.counts, rank)
        i = min(i, len(self.counts) - 1)
        upper = self.bounds[i]
        if math.isinf(upper):
            finite = [b for b in self.bounds if not math.isinf(b)]
            return finite[-1] if finite else None
        lower = self.bounds[i - 1] if i > 0 else min(0.0, upper)
        below = self.counts[i - 1] if i > 0 else 0.0
        inside = self.counts[i] - below
        if inside <= 0:
            return upper
        return lower + (upper - lower) * (rank - below) / inside


@dataclass(frozen=True)
class Snapshot:
    """One scrape: the known series by our names (summed over the label sets of the
    target's model), and the other counters and gauges under their own names."""

    server: str  # "vllm", "sglang", "tgi", "llama.cpp", or "" when none is recognized
    hists: dict[str, Hist] = field(default_factory=dict)
    gauges: dict[str, float] = field(default_factory=dict)
    counters: dict[str, float] = field(default_factory=dict)
    raw: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Delta:
    """What the server did between two snapshots: histograms and counters as
    differences, gauges as read at the end."""

    hists: dict[str, Hist]
    gauges: dict[str, float]
    counters: dict[str, float]


def known_lines(text: str, model: str | None = None) -> str:
    """TEXT with only the lines of the families loadtest knows (and their TYPE lines);
    with MODEL, where the server labels its series with it, only MODEL's (a server of
    many models writes each series once per model: the parse is what costs)."""
    lines = [m.group(0) for m in _KNOWN_LINE.finditer(text)]
    if model is not None:
        own = f'model_name="{model}"'
        if own in text:
            lines = [x for x in lines if own in x or 'model_name="' not in x]
    return "\n".join(lines)


def parse(text: str, model: str, raw: bool = False) -> Snapshot:
    """The snapshot in TEXT (Prometheus text format) for MODEL: a series labelled with
    a model_name (vLLM, SGLang) counts only when it is MODEL, unless no series names
    MODEL (then all count). RAW: also keep the other counters and gauges. ValueError
    when TEXT is not Prometheus text (an HTML page, say), naming the line."""
    if not raw:
        known = known_lines(text, model)
        # Nothing known in a page that is not empty: read it whole, which is how a page
        # that is not Prometheus text (an error page in its place) is told.
        text = known if known or not text.strip() else text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    labelled = {
        s.labels["model_name"]
        for f in families.values()
        for s in f.samples
        if "model_name" in s.labels
    }
    # A model the server names nowhere (an alias, a default it maps to): all its series.
    mine = model if model in labelled else None
    server = ""
    hists: dict[str, Hist] = {}
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    for ours, pairs in HISTOGRAMS.items():
        for who, name in pairs:
            if name in families:
                h = _hist(_mine(families[name].samples, mine))
                if h is not None:
                    hists[ours] = h
                    server = server or who
                    break
    for table, into in ((GAUGES, gauges), (COUNTERS, counters)):
        for ours, pairs in table.items():
            for who, name in pairs:
                # A counter typed without its _total (not as prometheus_client writes
                # it) comes out as a family of that name, its samples as another.
                fams = [families[n] for n in (name, name + "_total") if n in families]
                if fams:
                    samples = [
                        s
                        for f in fams
                        for s in _mine(f.samples, mine)
                        if not s.name.endswith("_created")
                    ]
                    if samples:
                        into[ours] = sum(s.value for s in samples)
                        server = server or who
                        break
    kept: dict[str, float] = {}
    if raw:
        for name, fam in families.items():
            if name in _FAMILIES or fam.type not in ("counter", "gauge", "unknown"):
                continue
            for s in fam.samples:
                if s.name.endswith("_created") or len(kept) >= RAW_LIMIT:
                    continue
                key = s.name + _labels(s.labels)
                kept[key] = s.value
    return Snapshot(server, hists, gauges, counters, kept)


def delta(later: Snapshot, earlier: Snapshot | None) -> Delta:
    """What happened between EARLIER and LATER (from the start of the counters when
    EARLIER is None; a counter that went down counts from its reset)."""
    hists = {k: h.minus(earlier.hists.get(k) if earlier else None) for k, h in later.hists.items()}
    counters = {}
    for k, v in later.counters.items():
        before = earlier.counters.get(k) if earlier else None
        counters[k] = v if before is None or v < before else v - before
    return Delta(hists, dict(later.gauges), counters)


def total(deltas: Iterable[Delta]) -> Delta:
    """Several consecutive deltas as one (gauges: the last read)."""
    hists: dict[str, Hist] = {}
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    for d in deltas:
        for k, h in d.hists.items():
            hists[k] = hists[k].plus(h) if k in hists else h
        for k, v in d.counters.items():
            counters[k] = counters.get(k, 0.0) + v
        gauges.update(d.gauges)
    return Delta(hists, gauges, counters)


def _mine(samples: list[Sample], model: str | None) -> list[Sample]:
    """The series of MODEL (and those with no model label); all when MODEL is None."""
    if model is None:
        return samples
    return [s for s in samples if s.labels.get("model_name", model) == model]


def _hist(samples: list[Sample]) -> Hist | None:
    by_le: dict[float, float] = {}
    total_sum = 0.0
    for s in samples:
        if s.name.endswith("_bucket"):
            le = float(s.labels.get("le", "+Inf"))
            by_le[le] = by_le.get(le, 0.0) + s.value
        elif s.name.endswith("_sum"):
            total_sum += s.value
    if not by_le:
        return None
    bounds = tuple(sorted(by_le))
    return Hist(bounds, tuple(by_le[b] for b in bounds), total_sum)


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"

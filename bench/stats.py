"""Percentiles of latency samples."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_samples: Sequence[float], rank: float) -> float:
    """The `rank`-th percentile (0-100) of ascending samples, nearest-rank
    method; 0.0 for no samples."""
    if not sorted_samples:
        return 0.0
    position = max(1, math.ceil(rank / 100 * len(sorted_samples)))
    return float(sorted_samples[position - 1])


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    """`{"p50_ms", "p95_ms", "p99_ms", "max_ms"}` of samples in milliseconds,
    rounded to 0.1 ms."""
    ordered = sorted(samples)
    return {
        "p50_ms": round(percentile(ordered, 50), 1),
        "p95_ms": round(percentile(ordered, 95), 1),
        "p99_ms": round(percentile(ordered, 99), 1),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
    }

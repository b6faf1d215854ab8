"""Small, dependency-light statistics for reports and sampling (stdlib only; no scipy).

Conventions (chosen so that no NaN or infinity ever reaches a report):

* A proportion of 0 calls (``n == 0``) is "nothing known": estimate 0, interval [0, 1].
* A mean of no values is estimate 0 with interval [0, 0], or the whole ``bounds`` range when bounds are given.
  A mean of one value has no variance estimate: its interval is the value itself, or the whole ``bounds``
  range when bounds are given (reports always pass bounds, so one call never looks like a precise estimate).
* All intervals are two-sided 95% unless ``confidence`` says otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its confidence interval (``low <= estimate <= high``)."""

    estimate: float
    low: float
    high: float

    def overlaps(self, other: Estimate) -> bool:
        """Whether the two intervals share at least one point (touching counts as overlapping)."""
        return self.low <= other.high and other.low <= self.high

    def entirely_above(self, other: Estimate) -> bool:
        """Whether this interval lies strictly above ``other``."""
        return self.low > other.high


def z_quantile(confidence: float = 0.95) -> float:
    """Two-sided normal critical value, e.g. 1.959964 for 95%."""
    _check_confidence(confidence)
    return _NORMAL.inv_cdf(0.5 + confidence / 2)


# --- proportions -------------------------------------------------------------------------------------------


def wilson_interval(k: int, n: int, confidence: float = 0.95) -> Estimate:
    """Wilson score interval for ``k`` successes out of ``n``; ``n == 0`` gives estimate 0, interval [0, 1]."""
    if n < 0 or k < 0 or k > n:
        raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    if n == 0:
        return Estimate(0.0, 0.0, 1.0)
    z = z_quantile(confidence)
    p = k / n
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # Exact at the edges (the formula gives 0 and 1 there up to rounding), and never outside [0, 1].
    low = 0.0 if k == 0 else max(0.0, min(p, centre - half))
    high = 1.0 if k == n else min(1.0, max(p, centre + half))
    return Estimate(p, low, high)


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Pooled two-proportion z-test of p1 = p2: returns (z, two-sided p-value). z < 0 means p1 < p2.

    Degenerate cases (an empty group, or both groups all-0 / all-1) give z = 0, p = 1: no evidence.
    """
    for k, n in ((k1, n1), (k2, n2)):
        if n < 0 or k < 0 or k > n:
            raise ValueError(f"need 0 <= k <= n, got k={k} n={n}")
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (k1 / n1 - k2 / n2) / se
    return z, 2 * (1 - _NORMAL.cdf(abs(z)))


def clearly_below(k: int, n: int, ref_k: int, ref_n: int, alpha: float = 0.05) -> bool:
    """Whether a group's proportion (k of n) is clearly below an independent reference group (ref_k of ref_n).

    Decision rule: two-sided pooled two-proportion z-test at level ``alpha``, and the group's rate is the lower.
    Why this rule and not "the group's Wilson interval does not contain the national rate": that treats the
    reference as exact although it is itself a sample (with few regions it is barely larger than the group),
    and "two Wilson intervals do not overlap" is far stricter than 5% (about 0.5%), so real gaps would be missed.
    The reference must be independent of the group: pass the rest of the country, not the country including the
    region (``reports`` does this), otherwise the region pulls the reference towards itself.
    """
    if n == 0 or ref_n == 0:
        return False
    z, p_value = two_proportion_z(k, n, ref_k, ref_n)
    return z < 0 and p_value < alpha


# --- means ---------------------------------------------------------------------------------------------------


def mean_interval(
    values: Iterable[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> Estimate:
    """Mean with its Student-t confidence interval; ``bounds`` (e.g. (0, 100) for scores) clip the interval.

    See the module docstring for fewer than two values.
    """
    xs = [float(v) for v in values]
    if any(not math.isfinite(x) for x in xs):
        raise ValueError("values must be finite")
    if bounds is not None and bounds[0] > bounds[1]:
        raise ValueError(f"bad bounds {bounds}")
    n = len(xs)
    if n == 0:
        return Estimate(0.0, 0.0, 0.0) if bounds is None else Estimate(bounds[0], bounds[0], bounds[1])
    mean = math.fsum(xs) / n
    if bounds is not None:
        mean = min(max(mean, bounds[0]), bounds[1])
    if n == 1:
        return Estimate(mean, mean, mean) if bounds is None else Estimate(mean, bounds[0], bounds[1])
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    half = t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(var / n)
    low, high = mean - half, mean + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    # Guard against rounding putting the mean a hair outside its own interval.
    return Estimate(mean, min(low, mean), max(high, mean))


# --- Student's t -------------------------------------------------------------------------------------------


def t_cdf(t: float, df: float) -> float:
    """Cumulative distribution of Student's t with ``df`` degrees of freedom (df > 0, may be fractional)."""
    if df <= 0:
        raise ValueError("df must be positive")
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)  # P(T > |t|)
    return 1 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Inverse of :func:`t_cdf`: the t with P(T <= t) = p. Closed form for df 1 and 2, else Newton + bisection.

    ``df == math.inf`` (or very large df) gives the normal quantile.
    """
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if df <= 0:
        raise ValueError("df must be positive")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1 - p, df)
    if math.isinf(df) or df > 1e7:
        return _NORMAL.inv_cdf(p)
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        a = 4 * p * (1 - p)
        return 2 * (p - 0.5) * math.sqrt(2 / a)
    # Bracket: the t quantile is at least the normal one; expand the upper end until it covers p.
    lo = _NORMAL.inv_cdf(p)
    hi = max(2 * lo, 1.0)
    while t_cdf(hi, df) < p:
        lo, hi = hi, hi * 2
    t = (lo + hi) / 2
    for _ in range(200):
        f = t_cdf(t, df) - p
        if f == 0:
            return t
        if f < 0:
            lo = t
        else:
            hi = t
        step = f / _t_pdf(t, df)
        if abs(step) < 1e-15 * max(1.0, abs(t)):
            return t - step
        candidate = t - step
        t = candidate if lo <= candidate <= hi else (lo + hi) / 2
        if hi - lo < 1e-15 * max(1.0, abs(t)):
            break
    return t


def _t_pdf(t: float, df: float) -> float:
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)
    return math.exp(log_c - (df + 1) / 2 * math.log1p(t * t / df))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) by Lentz's continued fraction (Numerical Recipes, betai)."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1 - math.exp(log_front) * _betacf(b, a, 1 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > tiny else tiny)
        c = 1 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-15:
            break
    return h


# --- sampling ----------------------------------------------------------------------------------------------


def sample_size(margin: float, population: int | None = None, confidence: float = 0.95, p: float = 0.5) -> int:
    """Calls to sample so a proportion is known within ±``margin`` at ``confidence``.

    n0 = z²·p(1−p)/e² (p = 0.5 is the worst case); with a finite population N the finite-population correction
    gives n = ceil(n0 / (1 + (n0 − 1)/N)), never more than N. ``population=None`` means unlimited: ceil(n0).
    Example: margin 0.10 at 95% → n0 = 96.04; N = 100 → 50; N = 10 000 → 96.
    """
    if not 0 < margin < 1:
        raise ValueError("margin must be in (0, 1)")
    if not 0 <= p <= 1:
        raise ValueError("p must be in [0, 1]")
    if population is not None and population < 0:
        raise ValueError("population must be >= 0")
    if population == 0:
        return 0
    z = z_quantile(confidence)
    n0 = z * z * p * (1 - p) / (margin * margin)
    n = n0 if population is None else n0 / (1 + (n0 - 1) / population)
    needed = max(1, math.ceil(n - 1e-9))  # tolerance: 50.0000000001 from rounding must not become 51
    return needed if population is None else min(needed, population)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")


__all__: Sequence[str] = [
    "Estimate",
    "clearly_below",
    "mean_interval",
    "sample_size",
    "t_cdf",
    "t_quantile",
    "two_proportion_z",
    "wilson_interval",
    "z_quantile",
]

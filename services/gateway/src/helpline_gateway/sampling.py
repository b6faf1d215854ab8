"""Which calls an audit looks at: eligibility, stratification, sample size, reproducibility.

- Eligible: consented, anonymized, at least the minimum duration, in the region and period.
- Strata: region × day × time-of-day band (Moscow time), so that nights and weekends are not
  under-represented; within a region the sample is allocated to strata in proportion to their size
  (largest remainders, ties broken by stratum name).
- Size: a fixed number per region, or the number needed for a margin of error on a compliance rate
  (worst case p = 0.5) with the finite-population correction.
- Reproducible: the draw in each stratum is seeded by (seed, stratum) over calls sorted by id, so the
  same candidates and seed always give the same sample; a call appears at most once.

Only the date prefixes of the period are listed, never the whole store.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from helpline_common import layout
from helpline_common.storage import ObjectStore
from helpline_gateway import stats

MOSCOW = dt.timezone(dt.timedelta(hours=3))
# (first hour, name) in Moscow time; a call belongs to the last band that starts at or before its hour.
TIME_BANDS = ((0, "night"), (6, "morning"), (12, "afternoon"), (18, "evening"))


@dataclass(frozen=True)
class Candidate:
    """What sampling needs to know about one stored recording."""

    call_id: str
    region: str
    call_start: dt.datetime
    duration_s: float
    consent: bool
    anonymized: bool
    recording_key: str
    sha256: str
    counselor: str

    @classmethod
    def from_recording_json(cls, data: dict) -> Candidate:
        """From the metadata JSON stored beside a recording (a Recording message as JSON)."""
        meta = data["metadata"]
        start = dt.datetime.fromisoformat(meta["callStart"].replace("Z", "+00:00"))
        return cls(meta["callId"], meta["regionCode"], start, float(meta["duration"].rstrip("s")),
                   bool(meta.get("consent")), bool(meta.get("anonymized")), data["ref"]["objectKey"],
                   data["ref"]["sha256"], meta.get("counselorPseudonym", ""))

    def to_json(self) -> dict:
        return {"call_id": self.call_id, "region": self.region, "call_start": self.call_start.isoformat(),
                "duration_s": self.duration_s, "consent": self.consent, "anonymized": self.anonymized,
                "recording_key": self.recording_key, "sha256": self.sha256, "counselor": self.counselor}

    @classmethod
    def from_json(cls, data: dict) -> Candidate:
        return cls(**(data | {"call_start": dt.datetime.fromisoformat(data["call_start"])}))


@dataclass(frozen=True)
class SampleSize:
    """Either a fixed number per region or a margin of error at a confidence level."""

    calls_per_region: int | None = None
    margin: float | None = None
    confidence: float = 0.95

    def for_population(self, population: int) -> int:
        if population <= 0:
            return 0
        if self.calls_per_region is not None:
            return min(self.calls_per_region, population)
        return stats.sample_size(self.margin, population, self.confidence)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def time_band(call_start: dt.datetime) -> str:
    hour = call_start.astimezone(MOSCOW).hour
    return [name for start, name in TIME_BANDS if hour >= start][-1]


def stratum(c: Candidate) -> str:
    return f"{c.region}|{c.call_start.astimezone(dt.timezone.utc):%Y-%m-%d}|{time_band(c.call_start)}"


def is_eligible(c: Candidate, min_duration_s: float) -> bool:
    return c.consent and c.anonymized and c.duration_s >= min_duration_s


def _allocate(sizes: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` over strata in proportion to their sizes (largest remainders)."""
    population = sum(sizes.values())
    quotas = {s: total * n / population for s, n in sizes.items()}
    alloc = {s: min(sizes[s], math.floor(q)) for s, q in quotas.items()}
    order = sorted(sizes, key=lambda s: (-(quotas[s] - math.floor(quotas[s])), s))
    while sum(alloc.values()) < total:
        for s in order:
            if sum(alloc.values()) == total:
                break
            if alloc[s] < sizes[s]:
                alloc[s] += 1
    return alloc


def draw(candidates: Iterable[Candidate], size: SampleSize, seed: int, min_duration_s: float,
         regions: Sequence[str], first: dt.date, last: dt.date) -> tuple[list[Candidate], dict[str, int]]:
    """The sample and the number of eligible calls per region."""
    by_stratum: dict[str, dict[str, Candidate]] = defaultdict(dict)
    wanted = set(regions)
    for c in candidates:
        day = c.call_start.astimezone(dt.timezone.utc).date()
        if c.region in wanted and first <= day <= last and is_eligible(c, min_duration_s):
            by_stratum[stratum(c)][c.call_id] = c  # one entry per call id: never sampled twice
    eligible = {r: 0 for r in regions}
    strata_by_region: dict[str, dict[str, int]] = defaultdict(dict)
    for name, calls in by_stratum.items():
        region = name.split("|", 1)[0]
        eligible[region] += len(calls)
        strata_by_region[region][name] = len(calls)
    sample: list[Candidate] = []
    for region in sorted(strata_by_region):
        sizes = strata_by_region[region]
        for name, k in sorted(_allocate(sizes, size.for_population(eligible[region])).items()):
            pool = sorted(by_stratum[name].values(), key=lambda c: c.call_id)
            sample.extend(random.Random(f"{seed}|{name}").sample(pool, k))
    return sample, eligible


def list_candidates(store: ObjectStore, regions: Sequence[str], first: dt.date, last: dt.date,
                    workers: int = 8) -> list[Candidate]:
    """Read the metadata of every recording in the period's date prefixes of these regions."""
    keys = [key for region in regions for day in days(first, last)
            for key in store.list_keys(layout.day_prefix(region, day)) if key.endswith(".json")]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return [Candidate.from_recording_json(d) for d in pool.map(store.get_json, keys)]

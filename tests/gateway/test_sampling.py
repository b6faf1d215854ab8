"""Sampling properties: eligibility, strata, sample size, reproducibility, no duplicates."""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from helpline_gateway.sampling import Candidate, SampleSize, draw, stratum

FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 3)
REGIONS = ["77", "78", "16"]


@st.composite
def candidates(draw_):
    n = draw_(st.integers(min_value=0, max_value=120))
    calls = []
    for i in range(n):
        day = FIRST + dt.timedelta(days=draw_(st.integers(-1, 3)))  # some outside the period
        start = dt.datetime.combine(
            day, dt.time(draw_(st.integers(0, 23)), draw_(st.integers(0, 59))), tzinfo=dt.timezone.utc
        )
        calls.append(
            Candidate(
                call_id=f"c{i:04d}",
                region=draw_(st.sampled_from([*REGIONS, "66"])),
                call_start=start,
                duration_s=draw_(st.sampled_from([10.0, 45.0, 300.0])),
                consent=draw_(st.booleans()),
                anonymized=draw_(st.booleans()) or draw_(st.booleans()),
                recording_key=f"k{i}",
                sha256="0" * 64,
                counselor="c-1",
            )
        )
    return calls


def eligible(c: Candidate) -> bool:
    day = c.call_start.date()
    return c.region in REGIONS and FIRST <= day <= LAST and c.consent and c.anonymized and c.duration_s >= 30


@settings(max_examples=150, deadline=None)
@given(calls=candidates(), per_region=st.integers(1, 40), seed=st.integers(1, 2**63 - 1))
def test_fixed_size_sample_properties(calls, per_region, seed):
    size = SampleSize(calls_per_region=per_region)
    sample, counts = draw(calls, size, seed, 30, REGIONS, FIRST, LAST)
    assert all(eligible(c) for c in sample)
    assert len({c.call_id for c in sample}) == len(sample)
    pool = Counter(c.region for c in calls if eligible(c))
    assert counts == {r: pool.get(r, 0) for r in REGIONS}
    got = Counter(c.region for c in sample)
    for region in REGIONS:
        assert got.get(region, 0) == min(per_region, pool.get(region, 0))
    # Proportional allocation: each stratum gets its quota rounded down or up.
    strata_pool = Counter(stratum(c) for c in calls if eligible(c))
    strata_got = Counter(stratum(c) for c in sample)
    for name, size_ in strata_pool.items():
        region = name.split("|")[0]
        quota = got.get(region, 0) * size_ / pool[region]
        assert math.floor(quota) <= strata_got.get(name, 0) <= math.ceil(quota)
    again, _ = draw(list(reversed(calls)), size, seed, 30, REGIONS, FIRST, LAST)
    assert [c.call_id for c in again] == [c.call_id for c in sample]  # same seed, same sample


def test_different_seeds_give_different_samples():
    calls = [
        Candidate(
            f"c{i}",
            "77",
            dt.datetime(2026, 11, 1, 10, tzinfo=dt.timezone.utc),
            60,
            True,
            True,
            f"k{i}",
            "0" * 64,
            "c-1",
        )
        for i in range(200)
    ]
    a, _ = draw(calls, SampleSize(calls_per_region=10), 1, 30, ["77"], FIRST, LAST)
    b, _ = draw(calls, SampleSize(calls_per_region=10), 2, 30, ["77"], FIRST, LAST)
    assert {c.call_id for c in a} != {c.call_id for c in b}


def test_margin_of_error_size_uses_finite_population_correction():
    assert SampleSize(margin=0.10).for_population(100) == 50
    assert SampleSize(margin=0.10).for_population(10000) == 96
    assert SampleSize(margin=0.10).for_population(20) == 17  # 96.04 / (1 + 95.04 / 20)
    assert SampleSize(calls_per_region=5).for_population(3) == 3

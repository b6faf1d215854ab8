"""Region and cross-region quality reports, built from scored call results (pure functions, no I/O).

The audit engine loads the call results (one JSON dict per scored call) and calls these builders; JSON
(:func:`to_json`) and HTML (:mod:`helpline_gateway.report_html`) are both rendered from the one report model,
the ``RegionReport`` / ``CrossRegionReport`` messages of ``helpline/gateway/v1/report.proto``.

A call result looks like::

    {"call_id": "demo-1", "region_code": "77", "call_start": "2026-11-27T14:30:00Z", "counselor_pseudonym": "c-017",
     "audit_id": "...", "score": 72.5, "band": "medium", "critical_flags": ["judgment"],
     "criteria": {"greeting": {"outcome": "met", "evidence_offsets_s": [1.2]}, ...},
     "measures": {"counselor_talk_share": 0.52, ...}}

Malformed results (missing id or score, unknown band or outcome, a call twice, a call of another region)
raise ``ValueError`` with the reason: a report is never silently computed from bad data.
Nothing from a result besides ids, codes, numbers and offsets is ever copied into a report (no text).
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from google.protobuf import json_format
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from helpline.common.v1 import recording_pb2
from helpline.gateway.v1 import report_pb2
from helpline.scorer.v1 import scorer_pb2
from helpline_common.regions import regions, unknown_code_message

from . import stats

NATIONAL_CODE = "national"
NATIONAL_NAME = "Россия"
SCORE_BOUNDS = (0.0, 100.0)

#: Criteria of protocol v1 in protocol order; criteria seen in results but not listed here follow, sorted.
DEFAULT_CRITERIA_ORDER: tuple[str, ...] = (
    "greeting",
    "confidentiality",
    "open_questions",
    "active_listening",
    "summary",
    "risk_assessment",
    "resources",
    "referral",
    "closing",
    "no_judgment",
    "no_directive_advice",
    "talk_balance",
)

#: Conversation measures in display order; other measures found in results follow, sorted.
DEFAULT_MEASURE_ORDER: tuple[str, ...] = (
    "counselor_talk_share",
    "reflection_to_question",
    "open_question_share",
    "longest_silence_s",
    "interruptions",
    "speech_rate_wpm",
)

#: Critical flag → the critical criterion whose failure raises it (its evidence gives the offsets to listen to).
DEFAULT_FLAG_CRITERIA: Mapping[str, str] = {
    "missed_risk_assessment": "risk_assessment",
    "judgment": "no_judgment",
}

_BANDS = {"high": scorer_pb2.BAND_HIGH, "medium": scorer_pb2.BAND_MEDIUM, "low": scorer_pb2.BAND_LOW}
_BAND_ORDER = (scorer_pb2.BAND_HIGH, scorer_pb2.BAND_MEDIUM, scorer_pb2.BAND_LOW)
_OUTCOMES = {"met", "not_met", "not_applicable"}


# --- periods -----------------------------------------------------------------------------------------------


def date_from_proto(d: recording_pb2.Date) -> dt.date:
    """``Date`` message → ``datetime.date`` (ValueError if it is not a real date)."""
    try:
        return dt.date(d.year, d.month, d.day)
    except ValueError as e:
        raise ValueError(f"invalid date {d.year:04d}-{d.month:02d}-{d.day:02d}") from e


def date_to_proto(d: dt.date) -> recording_pb2.Date:
    return recording_pb2.Date(year=d.year, month=d.month, day=d.day)


def make_period(first_day: dt.date, last_day: dt.date) -> recording_pb2.Period:
    """``Period`` message from two dates (inclusive)."""
    if last_day < first_day:
        raise ValueError(f"period ends ({last_day}) before it starts ({first_day})")
    return recording_pb2.Period(first_day=date_to_proto(first_day), last_day=date_to_proto(last_day))


def period_dates(period: recording_pb2.Period) -> tuple[dt.date, dt.date]:
    """(first day, last day) of a period; ValueError for invalid dates or a period ending before it starts."""
    first, last = date_from_proto(period.first_day), date_from_proto(period.last_day)
    if last < first:
        raise ValueError(f"ends ({last}) before it starts ({first})")
    return first, last


def period_days(period: recording_pb2.Period) -> int:
    """Number of days in a period, both ends included (a one-day period has 1)."""
    first, last = period_dates(period)
    return (last - first).days + 1


def previous_period(period: recording_pb2.Period) -> recording_pb2.Period:
    """The period of the same length that ends the day before this one starts."""
    first, _ = period_dates(period)
    last_prev = first - dt.timedelta(days=1)
    return make_period(last_prev - dt.timedelta(days=period_days(period) - 1), last_prev)


def region_name(region_code: str) -> str:
    """Russian name of a region code, «Россия» for ``"national"``; ValueError for an unknown code."""
    if region_code == NATIONAL_CODE:
        return NATIONAL_NAME
    try:
        return regions()[region_code]
    except KeyError:
        raise ValueError(unknown_code_message(region_code)) from None


# --- call results --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    call_id: str
    region_code: str
    audit_id: str
    counselor: str
    call_start: dt.datetime | None
    score: float
    band: int
    flags: tuple[str, ...]
    outcomes: dict[str, str] = field(default_factory=dict)
    offsets: dict[str, tuple[float, ...]] = field(default_factory=dict)
    measures: dict[str, float] = field(default_factory=dict)
    models: tuple[tuple[str, str, str], ...] = ()  # (kind, name, lang) of the speech and scorer models


def _models(result: Mapping) -> tuple[tuple[str, str, str], ...]:
    speech = result.get("speech_model")
    speech = speech if isinstance(speech, Mapping) else {}
    return (("speech", str(speech.get("name") or "unknown"), str(speech.get("lang") or "")),
            ("scorer", str(result.get("model_version") or "unknown"), ""))


def _parse(result: Mapping, where: str) -> _Call:
    if not isinstance(result, Mapping):
        raise ValueError(f"{where}: a call result must be an object")
    call_id = result.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise ValueError(f"{where}: call result without call_id")
    where = f"{where}, call {call_id}"
    score = result.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not math.isfinite(score):
        raise ValueError(f"{where}: score must be a number")
    if not 0 <= score <= 100:
        raise ValueError(f"{where}: score {score} outside 0..100")
    band = result.get("band")
    if band not in _BANDS:
        raise ValueError(f"{where}: band must be one of {sorted(_BANDS)}, got {band!r}")
    flags = result.get("critical_flags") or []
    if not isinstance(flags, list | tuple) or not all(isinstance(f, str) and f for f in flags):
        raise ValueError(f"{where}: critical_flags must be a list of names")
    outcomes: dict[str, str] = {}
    offsets: dict[str, tuple[float, ...]] = {}
    criteria = result.get("criteria") or {}
    if not isinstance(criteria, Mapping):
        raise ValueError(f"{where}: criteria must be an object")
    for cid, res in criteria.items():
        outcome = res.get("outcome") if isinstance(res, Mapping) else None
        if outcome not in _OUTCOMES:
            raise ValueError(f"{where}: criterion {cid!r} outcome must be one of {sorted(_OUTCOMES)}")
        outcomes[cid] = outcome
        offs = res.get("evidence_offsets_s") or []
        if not isinstance(offs, list | tuple) or not all(
            isinstance(o, int | float) and not isinstance(o, bool) and math.isfinite(o) and o >= 0 for o in offs
        ):
            raise ValueError(f"{where}: criterion {cid!r} evidence_offsets_s must be non-negative numbers")
        offsets[cid] = tuple(float(o) for o in offs)
    measures: dict[str, float] = {}
    raw_measures = result.get("measures") or {}
    if not isinstance(raw_measures, Mapping):
        raise ValueError(f"{where}: measures must be an object")
    for mid, value in raw_measures.items():
        # A measure may be undefined for a call (e.g. reflection/question with no question): skipped, not zero.
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            measures[mid] = float(value)
    start = result.get("call_start")
    call_start = None
    if start:
        try:
            call_start = dt.datetime.fromisoformat(str(start))
        except ValueError:
            raise ValueError(f"{where}: call_start {start!r} is not an ISO 8601 time") from None
        if call_start.tzinfo is None:
            call_start = call_start.replace(tzinfo=dt.UTC)
    return _Call(
        call_id=call_id,
        region_code=str(result.get("region_code") or ""),
        audit_id=str(result.get("audit_id") or ""),
        counselor=str(result.get("counselor_pseudonym") or ""),
        call_start=call_start,
        score=float(score),
        band=_BANDS[band],
        flags=tuple(dict.fromkeys(flags)),
        outcomes=outcomes,
        offsets=offsets,
        measures=measures,
        models=_models(result),
    )


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer")


def _unique(calls: list[_Call], where: str) -> list[_Call]:
    seen: set[str] = set()
    for c in calls:
        if c.call_id in seen:
            raise ValueError(f"{where}: call {c.call_id} appears twice")
        seen.add(c.call_id)
    return calls


def _parse_all(results: Iterable[Mapping] | None, where: str, region_code: str | None = None) -> list[_Call]:
    calls: list[_Call] = []
    for i, result in enumerate(results or ()):
        call = _parse(result, f"{where}[{i}]")
        if region_code not in (None, NATIONAL_CODE) and call.region_code and call.region_code != region_code:
            raise ValueError(f"{where}: call {call.call_id} is of region {call.region_code}, not {region_code}")
        calls.append(call)
    return _unique(calls, where)


# --- building blocks ---------------------------------------------------------------------------------------


def _interval(e: stats.Estimate) -> report_pb2.Interval:
    return report_pb2.Interval(estimate=e.estimate, low=e.low, high=e.high)


def _mean_score(calls: Sequence[_Call]) -> stats.Estimate:
    return stats.mean_interval((c.score for c in calls), bounds=SCORE_BOUNDS)


def _criterion_counts(calls: Iterable[_Call]) -> dict[str, tuple[int, int]]:
    """criterion → (met, applicable); applicable = met + not met."""
    met: dict[str, int] = defaultdict(int)
    applicable: dict[str, int] = defaultdict(int)
    for c in calls:
        for cid, outcome in c.outcomes.items():
            if outcome == "not_applicable":
                applicable[cid] += 0
                continue
            applicable[cid] += 1
            met[cid] += outcome == "met"
    return {cid: (met[cid], applicable[cid]) for cid in applicable}


def _ordered(seen: Iterable[str], order: Sequence[str]) -> list[str]:
    seen = set(seen)
    return list(order) + sorted(seen - set(order))


def _duration(seconds: float) -> Duration:
    d = Duration()
    d.FromNanoseconds(round(seconds * 1e9))
    return d


def _timestamp(t: dt.datetime) -> Timestamp:
    """A naive datetime is taken as UTC (as call_start without an offset is), never as the host's local time."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    ts = Timestamp()
    ts.FromDatetime(t.astimezone(dt.UTC).replace(tzinfo=None))
    return ts


def _flagged(calls: Iterable[_Call], flag_criteria: Mapping[str, str]) -> list[report_pb2.FlaggedCall]:
    """One entry per (call, flag): the call's critical flags plus any failed critical criterion lacking its flag.

    Likely flags (their criterion failed on the scorer's most probable reading) come first, then the possible
    ones (raised by the scorer's recall-first review only); each group by call start."""
    out: list[tuple[tuple, report_pb2.FlaggedCall]] = []
    for c in calls:
        flags = list(c.flags)
        for flag, cid in flag_criteria.items():
            if c.outcomes.get(cid) == "not_met" and flag not in flags:
                flags.append(flag)
        for flag in flags:
            fc = report_pb2.FlaggedCall(
                audit_id=c.audit_id,
                call_id=c.call_id,
                region_code=c.region_code,
                flag=flag,
                offsets=[_duration(o) for o in sorted(c.offsets.get(flag_criteria.get(flag, ""), ()))],
                score=c.score,
                likely=c.outcomes.get(flag_criteria.get(flag, "")) == "not_met",
            )
            if c.call_start is not None:
                fc.call_start.CopyFrom(_timestamp(c.call_start))
            start = c.call_start.timestamp() if c.call_start is not None else math.inf
            out.append(((not fc.likely, start, c.call_id, flag), fc))
    return [fc for _, fc in sorted(out, key=lambda pair: pair[0])]


def _comparison(reference: str, this: stats.Estimate, ref: stats.Estimate) -> report_pb2.Comparison:
    return report_pb2.Comparison(
        reference=reference,
        reference_mean_score=ref.estimate,
        difference=this.estimate - ref.estimate,
        significant=not this.overlaps(ref),
    )


# --- reports -------------------------------------------------------------------------------------------------


def build_region_report(
    region_code: str,
    period: recording_pb2.Period,
    results: Iterable[Mapping],
    *,
    eligible_calls: int,
    sampled_calls: int,
    failed_calls: int = 0,
    previous_results: Iterable[Mapping] | None = None,
    national_results: Iterable[Mapping] | None = None,
    include_counselors: bool = False,
    criteria_order: Sequence[str] | None = None,
    flag_criteria: Mapping[str, str] = DEFAULT_FLAG_CRITERIA,
    generated_at: dt.datetime | None = None,
) -> report_pb2.RegionReport:
    """Quality report of one region (or ``"national"``) over ``period`` from its scored call results.

    - ``results``: this region's call results of the period (one per scored call).
    - ``previous_results``: the region's results of the previous period; ``vs_previous`` is omitted when
      there are none (or when this period has no scored call).
    - ``national_results``: every region's results of the period (this region's may be included; they are left
      out by call id for the training-priority test). ``vs_national`` and training priorities need them.
    - ``include_counselors``: per-counselor means, for a supervisor's report only.
    - ``criteria_order``: criterion display order (default protocol v1); criteria seen in results but not in
      the order are appended, sorted. Every listed criterion appears, with 0 applicable calls if none.
    - ``flag_criteria``: critical flag → its critical criterion (offsets to listen to come from that
      criterion's evidence).
    - ``generated_at``: defaults to now (UTC).

    With no scored call, ``mean_score`` is estimate 0 with interval [0, 100]: read ``scored_calls`` first.
    """
    for name, value in (
        ("eligible_calls", eligible_calls),
        ("sampled_calls", sampled_calls),
        ("failed_calls", failed_calls),
    ):
        _check_count(name, value)
    return _build_region(
        region_code,
        period,
        _parse_all(results, "results", region_code),
        eligible_calls=eligible_calls,
        sampled_calls=sampled_calls,
        failed_calls=failed_calls,
        previous=_parse_all(previous_results, "previous_results", region_code),
        national=_Reference.of(_parse_all(national_results, "national_results")),
        include_counselors=include_counselors,
        criteria_order=criteria_order,
        flag_criteria=flag_criteria,
        generated_at=generated_at,
    )


@dataclass(frozen=True)
class _Reference:
    """The national calls of the period, parsed and counted once (a cross-region report reuses it per region)."""

    by_id: dict[str, _Call]
    counts: dict[str, tuple[int, int]]
    mean: stats.Estimate

    @classmethod
    def of(cls, calls: Sequence[_Call]) -> _Reference:
        return cls({c.call_id: c for c in calls}, _criterion_counts(calls), _mean_score(calls))


def _build_region(
    region_code: str,
    period: recording_pb2.Period,
    calls: Sequence[_Call],
    *,
    eligible_calls: int,
    sampled_calls: int,
    failed_calls: int,
    previous: Sequence[_Call],
    national: _Reference,
    include_counselors: bool,
    criteria_order: Sequence[str] | None,
    flag_criteria: Mapping[str, str],
    generated_at: dt.datetime | None,
) -> report_pb2.RegionReport:
    report = report_pb2.RegionReport(
        region_code=region_code,
        region_name=region_name(region_code),
        eligible_calls=eligible_calls,
        sampled_calls=sampled_calls,
        scored_calls=len(calls),
        failed_calls=failed_calls,
    )
    report.period.CopyFrom(period)
    period_dates(period)  # validates

    mean = _mean_score(calls)
    report.mean_score.CopyFrom(_interval(mean))

    band_counts = {b: 0 for b in _BAND_ORDER}
    for c in calls:
        band_counts[c.band] += 1
    report.bands.extend(report_pb2.BandCount(band=b, calls=n) for b, n in band_counts.items())

    counts = _criterion_counts(calls)
    order = _ordered(counts, DEFAULT_CRITERIA_ORDER if criteria_order is None else criteria_order)
    for cid in order:
        met, applicable = counts.get(cid, (0, 0))
        report.criteria.append(
            report_pb2.CriterionCompliance(
                criterion_id=cid,
                applicable_calls=applicable,
                met_calls=met,
                rate=_interval(stats.wilson_interval(met, applicable)),
            )
        )

    values: dict[str, list[float]] = defaultdict(list)
    for c in calls:
        for mid, v in c.measures.items():
            values[mid].append(v)
    for mid in _ordered(values, DEFAULT_MEASURE_ORDER):
        if values.get(mid):
            report.measures.append(
                report_pb2.MeasureSummary(measure_id=mid, mean=math.fsum(values[mid]) / len(values[mid]))
            )

    report.flagged_calls.extend(_flagged(calls, flag_criteria))
    uses = Counter(m for c in calls for m in c.models)
    report.models.extend(report_pb2.ModelUse(kind=kind, name=name, lang=lang, calls=n)
                         for (kind, name, lang), n in sorted(uses.items(), key=lambda u: (u[0][0] != "speech", u)))

    if calls and previous:
        report.vs_previous.CopyFrom(_comparison("previous_period", mean, _mean_score(previous)))
    if calls and national.by_id:
        report.vs_national.CopyFrom(_comparison("national", mean, national.mean))

    if include_counselors:
        by_counselor: dict[str, list[_Call]] = defaultdict(list)
        for c in calls:
            by_counselor[c.counselor].append(c)
        for pseudonym in sorted(by_counselor):
            group = by_counselor[pseudonym]
            report.counselors.append(
                report_pb2.CounselorSummary(
                    counselor_pseudonym=pseudonym, calls=len(group), mean_score=_interval(_mean_score(group))
                )
            )

    if national.by_id and region_code != NATIONAL_CODE:
        report.training_priorities.extend(_training_priorities(calls, national, order))

    report.generated_at.CopyFrom(_timestamp(generated_at or dt.datetime.now(dt.UTC)))
    return report


def _training_priorities(
    calls: Sequence[_Call], national: _Reference, order: Sequence[str]
) -> list[report_pb2.TrainingPriority]:
    """Criteria where the region is clearly below the rest of the country (stats.clearly_below), largest gap first.

    The test compares the region with the *rest* of the country (independent samples); the rate shown as
    ``national_rate`` is the whole country's, as in the national report.
    """
    region_counts = _criterion_counts(calls)
    national_counts = national.counts
    # rest of the country = national − this region's calls found in it (by call id)
    own_in_national = _criterion_counts(national.by_id[c.call_id] for c in calls if c.call_id in national.by_id)
    rest_counts = {
        cid: (met - own_in_national.get(cid, (0, 0))[0], applicable - own_in_national.get(cid, (0, 0))[1])
        for cid, (met, applicable) in national_counts.items()
    }
    out: list[tuple[float, int, report_pb2.TrainingPriority]] = []
    for i, cid in enumerate(order):
        met, applicable = region_counts.get(cid, (0, 0))
        rest_met, rest_applicable = rest_counts.get(cid, (0, 0))
        nat_met, nat_applicable = national_counts.get(cid, (0, 0))
        if applicable == 0 or nat_applicable == 0:
            continue
        if stats.clearly_below(met, applicable, rest_met, rest_applicable):
            region_rate, national_rate = met / applicable, nat_met / nat_applicable
            tp = report_pb2.TrainingPriority(criterion_id=cid, region_rate=region_rate, national_rate=national_rate)
            out.append((-(national_rate - region_rate), i, tp))
    return [tp for *_, tp in sorted(out, key=lambda t: (t[0], t[1]))]


def build_cross_region_report(
    period: recording_pb2.Period,
    results_by_region: Mapping[str, Iterable[Mapping]],
    *,
    eligible_by_region: Mapping[str, int],
    sampled_by_region: Mapping[str, int],
    failed_by_region: Mapping[str, int] | None = None,
    previous_by_region: Mapping[str, Iterable[Mapping]] | None = None,
    criteria_order: Sequence[str] | None = None,
    flag_criteria: Mapping[str, str] = DEFAULT_FLAG_CRITERIA,
    generated_at: dt.datetime | None = None,
) -> report_pb2.CrossRegionReport:
    """Every region side by side, the national aggregate and a ranking with intervals (for Fund reviewers).

    ``regions`` holds one report (no counselors) per region with at least one scored call, ordered by code;
    regions without scored calls still count in the national eligible/sampled/failed totals. The national
    report pools every region's calls. ``ranking`` is sorted by mean score (best first, ties by code):
    rank_low = 1 + regions whose interval lies entirely above; rank_high = regions − regions entirely below,
    so regions whose intervals overlap share ranks.
    """
    failed_by_region = failed_by_region or {}
    previous_by_region = previous_by_region or {}
    generated_at = generated_at or dt.datetime.now(dt.UTC)
    materialised = {code: list(res) for code, res in results_by_region.items()}
    previous = {code: list(res) for code, res in previous_by_region.items()}
    all_codes = sorted(set(materialised) | set(eligible_by_region) | set(sampled_by_region) | set(failed_by_region))
    for code in all_codes:
        region_name(code)  # unknown codes fail before any work
    calls = {code: _parse_all(materialised[code], f"results_by_region[{code}]", code) for code in sorted(materialised)}
    prev_calls = {code: _parse_all(previous[code], f"previous_by_region[{code}]", code) for code in sorted(previous)}
    national_calls = _unique([c for code in calls for c in calls[code]], "results_by_region")
    national_previous = _unique([c for code in prev_calls for c in prev_calls[code]], "previous_by_region")
    totals = {}
    for name, counts in (
        ("eligible", eligible_by_region),
        ("sampled", sampled_by_region),
        ("failed", failed_by_region),
    ):
        for code, value in counts.items():
            _check_count(f"{name}_by_region[{code}]", value)
        totals[name] = sum(counts.get(c, 0) for c in all_codes)

    national = _build_region(
        NATIONAL_CODE,
        period,
        national_calls,
        eligible_calls=totals["eligible"],
        sampled_calls=totals["sampled"],
        failed_calls=totals["failed"],
        previous=national_previous,
        national=_Reference.of([]),
        include_counselors=False,
        criteria_order=criteria_order,
        flag_criteria=flag_criteria,
        generated_at=generated_at,
    )
    # Same criteria rows in every region (the heatmap needs a full grid).
    order = [c.criterion_id for c in national.criteria]
    reference = _Reference.of(national_calls)
    region_reports = [
        _build_region(
            code,
            period,
            calls[code],
            eligible_calls=eligible_by_region.get(code, 0),
            sampled_calls=sampled_by_region.get(code, 0),
            failed_calls=failed_by_region.get(code, 0),
            previous=prev_calls.get(code, []),
            national=reference,
            include_counselors=False,
            criteria_order=order,
            flag_criteria=flag_criteria,
            generated_at=generated_at,
        )
        for code in calls
        if calls[code]
    ]
    report = report_pb2.CrossRegionReport(regions=region_reports, ranking=rank_regions(region_reports))
    report.period.CopyFrom(period)
    report.national.CopyFrom(national)
    report.generated_at.CopyFrom(_timestamp(generated_at))
    return report


def rank_regions(region_reports: Sequence[report_pb2.RegionReport]) -> list[report_pb2.RegionRank]:
    """Ranking by mean score with intervals (see :func:`build_cross_region_report`)."""
    est = {
        r.region_code: stats.Estimate(r.mean_score.estimate, r.mean_score.low, r.mean_score.high)
        for r in region_reports
    }
    n = len(est)
    ranks = []
    for code in sorted(est, key=lambda c: (-est[c].estimate, c)):
        above = sum(1 for o in est if o != code and est[o].entirely_above(est[code]))
        below = sum(1 for o in est if o != code and est[code].entirely_above(est[o]))
        ranks.append(report_pb2.RegionRank(region_code=code, rank_low=1 + above, rank_high=n - below))
    return ranks


def to_json(report: report_pb2.RegionReport | report_pb2.CrossRegionReport) -> str:
    """The report model as JSON: proto field names, UTF-8 text (no \\u escapes), zero values printed, stable."""
    return json_format.MessageToJson(
        report,
        preserving_proto_field_name=True,
        indent=2,
        ensure_ascii=False,
        always_print_fields_with_no_presence=True,
    )

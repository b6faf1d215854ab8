"""Region and cross-region reports on small hand-made sets, recomputed independently here; HTML output."""

from __future__ import annotations

import datetime as dt
import json
import math
import re

import pytest
from google.protobuf import json_format

from helpline.gateway.v1 import report_pb2
from helpline.scorer.v1 import scorer_pb2
from helpline_gateway import report_html, reports

Z95 = 1.959963984540054
T975_DF4 = 2.7764451051977987
NOV = reports.make_period(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
GENERATED = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Textbook Wilson score interval, written out independently of the code under test."""
    p = k / n
    centre = (p + Z95**2 / (2 * n)) / (1 + Z95**2 / n)
    half = Z95 / (1 + Z95**2 / n) * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n**2))
    return centre - half, centre + half


def call(call_id, score, *, region="77", band=None, flags=(), criteria=None, measures=None, counselor="c-1", **extra):
    band = band or ("high" if score >= 80 else "medium" if score >= 50 else "low")
    return {
        "call_id": call_id,
        "region_code": region,
        "call_start": f"2026-11-{10 + len(call_id) % 10:02d}T14:30:00Z",
        "counselor_pseudonym": counselor,
        "audit_id": "20261128T020000-ab12",
        "recording_sha256": "0" * 64,
        "protocol_version": "1.0.0",
        "model_version": "v3",
        "score": score,
        "band": band,
        "critical_flags": list(flags),
        "criteria": {
            cid: {"outcome": outcome, "evidence_offsets_s": list(offsets)}
            for cid, (outcome, offsets) in (criteria or {}).items()
        },
        "measures": measures or {},
        **extra,
    }


def hand_made() -> list[dict]:
    return [
        call(
            "m-1",
            90.0,
            criteria={
                "greeting": ("met", [1.2]),
                "risk_assessment": ("not_applicable", []),
                "no_judgment": ("met", []),
            },
            measures={"counselor_talk_share": 0.5, "reflection_to_question": 1.0, "interruptions": 0},
            counselor="c-1",
        ),
        call(
            "m-2",
            70.0,
            flags=["judgment"],
            criteria={
                "greeting": ("met", [0.8]),
                "risk_assessment": ("not_applicable", []),
                "no_judgment": ("not_met", [61.5, 33.0]),
            },
            measures={"counselor_talk_share": 0.6, "reflection_to_question": None, "interruptions": 2},
            counselor="c-1",
            transcript="консультант: сам виноват",  # text in the input must never reach the report
        ),
        call(
            "m-3",
            40.0,
            flags=["missed_risk_assessment"],
            criteria={"greeting": ("not_met", []), "risk_assessment": ("not_met", [12.5]), "no_judgment": ("met", [])},
            measures={"counselor_talk_share": 0.7, "reflection_to_question": 0.5, "interruptions": 1},
            counselor="c-2",
        ),
        call(
            "m-4",
            85.0,
            criteria={"greeting": ("met", [2.0]), "risk_assessment": ("met", [40.0]), "no_judgment": ("met", [])},
            measures={"counselor_talk_share": 0.4, "reflection_to_question": 1.5, "interruptions": 0},
            counselor="c-2",
        ),
        call(
            "m-5",
            55.0,
            criteria={
                "greeting": ("met", [1.0]),
                "risk_assessment": ("not_applicable", []),
                "no_judgment": ("met", []),
            },
            counselor="c-2",
        ),
    ]


def region_report(results=None, **kwargs) -> report_pb2.RegionReport:
    kwargs.setdefault("eligible_calls", 120)
    kwargs.setdefault("sampled_calls", 6)
    kwargs.setdefault("failed_calls", 1)
    kwargs.setdefault("generated_at", GENERATED)
    return reports.build_region_report("77", NOV, hand_made() if results is None else results, **kwargs)


# --- periods -------------------------------------------------------------------------------------------------


def test_period_days_and_previous_period():
    assert reports.period_days(NOV) == 30
    prev = reports.previous_period(NOV)
    assert reports.period_dates(prev) == (dt.date(2026, 10, 2), dt.date(2026, 10, 31))
    one_day = reports.make_period(dt.date(2027, 1, 1), dt.date(2027, 1, 1))
    assert reports.period_days(one_day) == 1
    assert reports.period_dates(reports.previous_period(one_day)) == (dt.date(2026, 12, 31),) * 2
    week = reports.make_period(dt.date(2028, 3, 1), dt.date(2028, 3, 7))  # across a leap day
    assert reports.period_dates(reports.previous_period(week)) == (dt.date(2028, 2, 23), dt.date(2028, 2, 29))


def test_invalid_periods_are_refused():
    with pytest.raises(ValueError):
        reports.make_period(dt.date(2026, 11, 2), dt.date(2026, 11, 1))
    bad = report_pb2.RegionReport().period
    bad.first_day.year, bad.first_day.month, bad.first_day.day = 2026, 2, 30
    bad.last_day.year, bad.last_day.month, bad.last_day.day = 2026, 3, 1
    with pytest.raises(ValueError):
        reports.period_days(bad)


# --- region report numbers -------------------------------------------------------------------------------------


def test_region_report_counts_mean_and_bands():
    r = region_report()
    assert (r.region_code, r.region_name) == ("77", "Москва")
    assert (r.eligible_calls, r.sampled_calls, r.scored_calls, r.failed_calls) == (120, 6, 5, 1)
    scores = [90.0, 70.0, 40.0, 85.0, 55.0]
    mean = sum(scores) / 5
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / 4)
    half = T975_DF4 * sd / math.sqrt(5)
    assert r.mean_score.estimate == pytest.approx(68.0)
    assert r.mean_score.low == pytest.approx(mean - half)
    assert r.mean_score.high == pytest.approx(mean + half)
    assert [(b.band, b.calls) for b in r.bands] == [
        (scorer_pb2.BAND_HIGH, 2),
        (scorer_pb2.BAND_MEDIUM, 2),
        (scorer_pb2.BAND_LOW, 1),
    ]
    assert r.generated_at.ToDatetime(tzinfo=dt.UTC) == GENERATED


def test_bands_include_zero_counts():
    r = region_report([call("x-1", 95.0), call("x-2", 99.0)])
    assert [(b.band, b.calls) for b in r.bands] == [
        (scorer_pb2.BAND_HIGH, 2),
        (scorer_pb2.BAND_MEDIUM, 0),
        (scorer_pb2.BAND_LOW, 0),
    ]
    assert '"calls": 0' in reports.to_json(r)


def test_compliance_excludes_not_applicable():
    r = region_report()
    by_id = {c.criterion_id: c for c in r.criteria}
    # Protocol order, every criterion present even without data.
    assert [c.criterion_id for c in r.criteria] == list(reports.DEFAULT_CRITERIA_ORDER)
    greeting = by_id["greeting"]
    assert (greeting.applicable_calls, greeting.met_calls) == (5, 4)
    low, high = wilson(4, 5)
    assert (greeting.rate.estimate, greeting.rate.low, greeting.rate.high) == pytest.approx((0.8, low, high))
    risk = by_id["risk_assessment"]  # 3 calls not applicable, 1 met, 1 not met
    assert (risk.applicable_calls, risk.met_calls) == (2, 1)
    assert risk.rate.estimate == pytest.approx(0.5)
    assert (risk.rate.low, risk.rate.high) == pytest.approx(wilson(1, 2))
    no_judgment = by_id["no_judgment"]
    assert (no_judgment.applicable_calls, no_judgment.met_calls) == (5, 4)
    summary = by_id["summary"]  # never reported: no data, the "nothing known" interval
    assert (summary.applicable_calls, summary.met_calls) == (0, 0)
    assert (summary.rate.estimate, summary.rate.low, summary.rate.high) == (0.0, 0.0, 1.0)


def test_criteria_order_parameter_and_unknown_criteria_appended():
    results = hand_made()
    results[0]["criteria"]["zz_new"] = {"outcome": "met", "evidence_offsets_s": []}
    r = region_report(results, criteria_order=["no_judgment", "greeting"])
    assert [c.criterion_id for c in r.criteria] == ["no_judgment", "greeting", "risk_assessment", "zz_new"]


def test_measures_are_means_over_calls_that_have_them():
    r = region_report()
    got = {m.measure_id: m.mean for m in r.measures}
    assert got["counselor_talk_share"] == pytest.approx((0.5 + 0.6 + 0.7 + 0.4) / 4)
    assert got["reflection_to_question"] == pytest.approx((1.0 + 0.5 + 1.5) / 3)  # None is skipped, not zero
    assert got["interruptions"] == pytest.approx(3 / 4)
    assert [m.measure_id for m in r.measures] == ["counselor_talk_share", "reflection_to_question", "interruptions"]


def test_flagged_calls_carry_offsets_and_no_text():
    r = region_report()
    flagged = {(f.call_id, f.flag): f for f in r.flagged_calls}
    assert set(flagged) == {("m-2", "judgment"), ("m-3", "missed_risk_assessment")}
    judgment = flagged[("m-2", "judgment")]
    assert [o.ToTimedelta().total_seconds() for o in judgment.offsets] == [33.0, 61.5]
    assert judgment.score == pytest.approx(70.0)
    assert judgment.region_code == "77" and judgment.audit_id == "20261128T020000-ab12"
    assert judgment.call_start.ToDatetime(tzinfo=dt.UTC).hour == 14
    missed = flagged[("m-3", "missed_risk_assessment")]
    assert [o.ToTimedelta().total_seconds() for o in missed.offsets] == [12.5]
    # The model has no text field, and nothing of the input text leaks anywhere into the report.
    fields = {f.name for f in report_pb2.FlaggedCall.DESCRIPTOR.fields}
    assert fields == {"audit_id", "call_id", "region_code", "flag", "offsets", "score", "call_start", "likely"}
    assert "виноват" not in reports.to_json(r)
    assert "виноват" not in report_html.render_region_html(r)


def test_failed_critical_criterion_without_flag_is_still_flagged_and_mapping_is_a_parameter():
    results = [
        call("f-1", 60.0, criteria={"risk_assessment": ("not_met", [5.0])}),  # scorer forgot the flag
        call("f-2", 60.0, flags=["custom_flag"], criteria={"closing": ("not_met", [300.0])}),
    ]
    r = region_report(results)
    assert [(f.call_id, f.flag, len(f.offsets)) for f in r.flagged_calls] == [
        ("f-1", "missed_risk_assessment", 1),
        ("f-2", "custom_flag", 0),
    ]
    r = region_report(results, flag_criteria={"custom_flag": "closing"})
    assert [(f.call_id, f.flag) for f in r.flagged_calls] == [("f-2", "custom_flag")]
    assert r.flagged_calls[0].offsets[0].seconds == 300


def test_likely_flags_come_first_and_possible_ones_are_marked():
    """A flag whose criterion failed on the scorer's most probable reading is likely; one raised only by the
    scorer's recall-first review (criterion met or not applicable) is possible, listed after the likely ones."""
    results = [
        call("p-1", 85.0, flags=["judgment"], criteria={"no_judgment": ("met", [7.0])}),  # starts first
        call("l-22", 50.0, flags=["judgment"], criteria={"no_judgment": ("not_met", [30.0])}),
        call("p-33", 80.0, flags=["missed_risk_assessment"], criteria={"risk_assessment": ("not_applicable", [4.0])}),
    ]
    r = region_report(results)
    assert [(f.call_id, f.likely) for f in r.flagged_calls] == [("l-22", True), ("p-1", False), ("p-33", False)]
    assert r.flagged_calls[1].offsets[0].seconds == 7  # the suspected moment, to listen to
    page = report_html.render_region_html(r)
    assert page.count(">вероятно<") == 1 and page.count(">возможно<") == 2
    assert json.loads(reports.to_json(r))["flagged_calls"][0]["likely"] is True


def test_counselors_only_when_asked():
    assert len(region_report().counselors) == 0
    r = region_report(include_counselors=True)
    got = {c.counselor_pseudonym: c for c in r.counselors}
    assert set(got) == {"c-1", "c-2"}
    assert got["c-1"].calls == 2 and got["c-1"].mean_score.estimate == pytest.approx(80.0)
    assert got["c-2"].calls == 3 and got["c-2"].mean_score.estimate == pytest.approx((40 + 85 + 55) / 3)
    assert got["c-1"].mean_score.low <= 80.0 <= got["c-1"].mean_score.high


def test_vs_previous_and_vs_national():
    r = region_report()
    assert not r.HasField("vs_previous") and not r.HasField("vs_national")
    assert len(r.training_priorities) == 0
    previous = [call(f"p-{i}", 20.0 + (i % 3)) for i in range(10)]  # mean 20.9, narrow interval
    national = hand_made() + [call(f"n-{i}", 66.0 + (i % 5), region="78") for i in range(20)]
    r = region_report(previous_results=previous, national_results=national)
    assert r.vs_previous.reference == "previous_period"
    assert r.vs_previous.reference_mean_score == pytest.approx(sum(20.0 + (i % 3) for i in range(10)) / 10)
    assert r.vs_previous.difference == pytest.approx(68.0 - r.vs_previous.reference_mean_score)
    assert r.vs_previous.significant
    national_mean = (340.0 + sum(66.0 + (i % 5) for i in range(20))) / 25
    assert r.vs_national.reference == "national"
    assert r.vs_national.reference_mean_score == pytest.approx(national_mean)
    assert r.vs_national.difference == pytest.approx(68.0 - national_mean)
    assert not r.vs_national.significant  # intervals overlap


def test_training_priorities_only_where_the_gap_is_clear():
    def criteria(i, rates):
        return {cid: ("met" if i < round(rate * n) else "not_met", []) for cid, (rate, n) in rates.items()}

    region_rates = {
        "greeting": (10 / 30, 30),
        "summary": (20 / 30, 30),
        "open_questions": (25 / 30, 30),
        "confidentiality": (27 / 30, 30),
    }
    rest_rates = {
        "greeting": (0.9, 100),
        "summary": (0.9, 100),
        "open_questions": (0.9, 100),
        "confidentiality": (0.85, 100),
    }
    region = [call(f"r-{i}", 60.0, criteria=criteria(i, region_rates)) for i in range(30)]
    rest = [call(f"o-{i}", 60.0, region="78", criteria=criteria(i, rest_rates)) for i in range(100)]
    r = region_report(region, national_results=region + rest)
    got = [(t.criterion_id, t.region_rate, t.national_rate) for t in r.training_priorities]
    # greeting (gap 0.57) before summary (0.23); open_questions (0.07, z ≈ −1) and confidentiality (above) absent.
    assert [g[0] for g in got] == ["greeting", "summary"]
    assert got[0][1:] == pytest.approx((10 / 30, 100 / 130))
    assert got[1][1:] == pytest.approx((20 / 30, 110 / 130))
    # Passing the country without the region gives the same decision (the region is left out by call id).
    r2 = region_report(region, national_results=rest)
    assert [t.criterion_id for t in r2.training_priorities] == ["greeting", "summary"]


def test_empty_region_report_is_nan_free():
    r = region_report([], previous_results=hand_made(), national_results=hand_made())
    assert r.scored_calls == 0
    assert (r.mean_score.estimate, r.mean_score.low, r.mean_score.high) == (0.0, 0.0, 100.0)
    assert not r.HasField("vs_previous") and not r.HasField("vs_national")
    assert "NaN" not in reports.to_json(r) and "Infinity" not in reports.to_json(r)
    assert "нет оценённых звонков" in report_html.render_region_html(r)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda rs: rs[0].update(band="great"), "band"),
        (lambda rs: rs[0].update(score="high"), "score"),
        (lambda rs: rs[0].update(score=120), "outside"),
        (lambda rs: rs[0].pop("call_id"), "call_id"),
        (lambda rs: rs[1].update(call_id="m-1"), "twice"),
        (lambda rs: rs[0].update(region_code="78"), "region"),
        (lambda rs: rs[0]["criteria"]["greeting"].update(outcome="maybe"), "outcome"),
        (lambda rs: rs[0]["criteria"]["greeting"].update(evidence_offsets_s=[-1]), "offsets"),
        (lambda rs: rs[0].update(call_start="yesterday"), "call_start"),
    ],
)
def test_malformed_results_are_refused(mutate, message):
    results = hand_made()
    mutate(results)
    with pytest.raises(ValueError, match=message):
        region_report(results)


def test_unknown_region_and_bad_counts_are_refused():
    with pytest.raises(ValueError, match="unknown region"):
        reports.build_region_report("99x", NOV, [], eligible_calls=0, sampled_calls=0)
    with pytest.raises(ValueError, match="eligible_calls"):
        reports.build_region_report("77", NOV, [], eligible_calls=-1, sampled_calls=0)


def test_json_is_utf8_stable_and_round_trips():
    r = region_report(include_counselors=True, national_results=hand_made())
    text = reports.to_json(r)
    assert "Москва" in text and "\\u" not in text
    assert text == reports.to_json(r)
    data = json.loads(text)
    assert data["region_code"] == "77" and data["bands"][0]["band"] == "BAND_HIGH"
    assert json_format.Parse(text, report_pb2.RegionReport()) == r


# --- cross-region --------------------------------------------------------------------------------------------


def _spread(prefix, region, centre, n=10):
    return [call(f"{prefix}-{i}", centre + (i % 5) - 2, region=region) for i in range(n)]


def test_ranking_ties_overlapping_intervals():
    results = {"77": _spread("a", "77", 90), "78": _spread("b", "78", 88), "01": _spread("c", "01", 40)}
    x = reports.build_cross_region_report(
        NOV,
        results,
        eligible_by_region={"77": 100, "78": 80, "01": 50, "02": 30},
        sampled_by_region={"77": 10, "78": 10, "01": 12, "02": 0},
        failed_by_region={"01": 2},
        generated_at=GENERATED,
    )
    assert [(r.region_code, r.rank_low, r.rank_high) for r in x.ranking] == [("77", 1, 2), ("78", 1, 2), ("01", 3, 3)]
    # Regions without scored calls are not reported but count in the national totals.
    assert [r.region_code for r in x.regions] == ["01", "77", "78"]
    assert all(len(r.counselors) == 0 for r in x.regions)
    n = x.national
    assert (n.region_code, n.region_name) == ("national", "Россия")
    assert (n.eligible_calls, n.sampled_calls, n.failed_calls, n.scored_calls) == (260, 32, 2, 30)
    assert n.mean_score.estimate == pytest.approx((90 * 10 + 88 * 10 + 40 * 10) / 30)
    assert all(r.vs_national.reference == "national" for r in x.regions)
    assert not n.HasField("vs_national")
    assert x.generated_at.ToDatetime(tzinfo=dt.UTC) == GENERATED


def test_rank_regions_rule():
    def rr(code, low, est, high):
        return report_pb2.RegionReport(
            region_code=code, mean_score=report_pb2.Interval(estimate=est, low=low, high=high)
        )

    # A overlaps B; B overlaps C; A is entirely above C; D below everything.
    ranking = reports.rank_regions([rr("C", 60, 65, 70), rr("A", 75, 80, 85), rr("B", 68, 74, 80), rr("D", 10, 20, 30)])
    assert [(r.region_code, r.rank_low, r.rank_high) for r in ranking] == [
        ("A", 1, 2),
        ("B", 1, 3),
        ("C", 2, 3),
        ("D", 4, 4),
    ]


def test_one_call_region_cannot_be_ranked_apart():
    results = {"77": _spread("a", "77", 90), "78": [call("b-1", 10.0, region="78")]}
    x = reports.build_cross_region_report(NOV, results, eligible_by_region={}, sampled_by_region={})
    assert {(r.region_code, r.rank_low, r.rank_high) for r in x.ranking} == {("77", 1, 2), ("78", 1, 2)}


def test_cross_region_previous_periods():
    results = {"77": _spread("a", "77", 90), "78": _spread("b", "78", 50)}
    previous = {"77": _spread("pa", "77", 50)}
    x = reports.build_cross_region_report(
        NOV, results, eligible_by_region={}, sampled_by_region={}, previous_by_region=previous
    )
    by_code = {r.region_code: r for r in x.regions}
    assert by_code["77"].vs_previous.significant and by_code["77"].vs_previous.difference == pytest.approx(40.0)
    assert not by_code["78"].HasField("vs_previous")
    assert x.national.vs_previous.reference_mean_score == pytest.approx(50.0)


# --- HTML ----------------------------------------------------------------------------------------------------


def _assert_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert not re.search(r"https?://", page)
    assert not re.search(r"\b(src|href)\s*=", page, re.IGNORECASE)
    assert "<script" not in page.lower() and "<link" not in page.lower() and "@import" not in page


def test_region_html_is_self_contained_russian_and_escaped():
    results = hand_made()
    results[0]["counselor_pseudonym"] = '<script>alert("x")</script>'
    results[1]["call_id"] = "m-2<img onerror=alert(1)>"
    results[1]["audit_id"] = "a&b\"'"
    r = region_report(results, include_counselors=True, national_results=results)
    page = report_html.render_region_html(r)
    _assert_self_contained(page)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "<img" not in page and "m-2&lt;img onerror=alert(1)&gt;" in page
    assert "a&amp;b&quot;&#x27;" in page
    for label in (
        "Средний балл",
        "Доверительный интервал 95%",
        "Соответствие критериям",
        "Звонки для проверки",
        "Распределение по уровням",
        "высокий",
        "средний",
        "низкий",
        "Приветствие",
        "Оценка риска",
        "Без осуждения",
        "Москва",
        "Консультанты",
        "Осуждение",
        "Пропущена оценка риска",
        "0:33, 1:01",
    ):
        assert label in page, label


def test_region_html_without_counselors_has_no_counselor_section():
    results = hand_made()
    results[0]["counselor_pseudonym"] = "c-secret"
    page = report_html.render_region_html(region_report(results))
    assert "c-secret" not in page and "Консультанты" not in page


def test_cross_region_html_has_heatmap_and_ranking():
    results = {"77": _spread("a", "77", 90), "78": _spread("b", "78", 88), "01": _spread("c", "01", 40)}
    for rs in results.values():
        for i, r in enumerate(rs):
            r["criteria"] = {"greeting": {"outcome": "met" if i % 2 else "not_met", "evidence_offsets_s": []}}
    x = reports.build_cross_region_report(NOV, results, eligible_by_region={}, sampled_by_region={})
    page = report_html.render_cross_region_html(x)
    _assert_self_contained(page)
    assert page.count("<svg") >= 3  # national bands, ranking, heatmap
    for label in (
        "Рейтинг регионов",
        "Соответствие критериям по регионам",
        "Москва",
        "Санкт-Петербург",
        "Республика Адыгея",
        "Россия",
        "1–2",
        "Средний балл",
        "Доверительный интервал 95%",
    ):
        assert label in page, label
    # One heatmap cell per criterion × region, coloured by rate; the no-data cells are grey.
    assert len(re.findall(r"<rect [^>]*><title>", page)) == len(reports.DEFAULT_CRITERIA_ORDER) * 3
    assert "hsl(60,65%,50%)" in page  # greeting met in half the calls → yellow


def test_cross_region_matches_single_region_reports():
    results = {"77": hand_made(), "78": _spread("b", "78", 60, n=30), "01": _spread("c", "01", 40)}
    for i, r in enumerate(results["78"]):
        r["criteria"] = {
            "greeting": {"outcome": "met", "evidence_offsets_s": []},
            "summary": {"outcome": "met" if i else "not_met", "evidence_offsets_s": []},
        }
    national = [r for rs in results.values() for r in rs]
    x = reports.build_cross_region_report(
        NOV,
        results,
        eligible_by_region={"77": 120},
        sampled_by_region={"77": 6},
        failed_by_region={"77": 1},
        generated_at=GENERATED,
    )
    alone = reports.build_region_report(
        "77",
        NOV,
        results["77"],
        eligible_calls=120,
        sampled_calls=6,
        failed_calls=1,
        national_results=national,
        criteria_order=[c.criterion_id for c in x.national.criteria],
        generated_at=GENERATED,
    )
    assert next(r for r in x.regions if r.region_code == "77") == alone
    # greeting 4/5 against the rest's 30/30: z ≈ −2.5, a clear gap
    assert [t.criterion_id for t in alone.training_priorities] == ["greeting"]
    assert [c.criterion_id for c in x.regions[0].criteria] == [c.criterion_id for c in x.regions[1].criteria]


def test_cross_region_refuses_a_call_in_two_regions():
    results = {"77": [call("same", 50.0, region="77")], "78": [call("same", 60.0, region="78")]}
    with pytest.raises(ValueError, match="twice"):
        reports.build_cross_region_report(NOV, results, eligible_by_region={}, sampled_by_region={})


def test_reports_name_their_models_and_warn_when_speech_was_not_russian():
    ru = {"name": "vosk-model-small-ru-0.22", "lang": "ru"}
    results = [call("s-1", 80.0, speech_model=ru), call("s-2", 70.0, speech_model=ru),
               call("s-3", 60.0, speech_model={"name": "model", "lang": "ko"}),
               call("s-4", 50.0)]  # recorded before results named their speech model
    r = region_report(results)
    got = {(m.kind, m.name, m.lang): m.calls for m in r.models}
    assert [m.kind for m in r.models] == ["speech"] * 3 + ["scorer"]  # the transcripts first
    assert got == {("speech", "vosk-model-small-ru-0.22", "ru"): 2, ("speech", "model", "ko"): 1,
                   ("speech", "unknown", ""): 1, ("scorer", "v3", ""): 4}
    page = report_html.render_region_html(r)
    assert "не для русского языка (ko)" in page and "vosk-model-small-ru-0.22 (ru) — звонков: 2" in page
    russian_only = region_report(results[:2])
    assert "не для русского" not in report_html.render_region_html(russian_only)
    x = reports.build_cross_region_report(NOV, {"77": results}, eligible_by_region={}, sampled_by_region={})
    assert {m.name for m in x.national.models} >= {"model", "v3"}
    assert "не для русского языка (ko)" in report_html.render_cross_region_html(x)

"""Self-contained HTML for region and cross-region reports, rendered from the report model.

One file, no external assets and no JavaScript: inline CSS and inline SVG charts (no ``xmlns`` URL either:
inline SVG in HTML5 does not need it). Labels are Russian. Every string that comes from the report passes
through :func:`html.escape`, numbers are formatted here.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence

from helpline.gateway.v1 import report_pb2
from helpline.scorer.v1 import scorer_pb2

CRITERIA_RU = {
    "greeting": "Приветствие",
    "confidentiality": "Конфиденциальность",
    "open_questions": "Открытые вопросы",
    "active_listening": "Активное слушание",
    "summary": "Резюмирование",
    "risk_assessment": "Оценка риска",
    "resources": "Ресурсы",
    "referral": "Перенаправление",
    "closing": "Завершение",
    "no_judgment": "Без осуждения",
    "no_directive_advice": "Без директивных советов",
    "talk_balance": "Баланс речи",
}

MEASURES_RU = {
    "counselor_talk_share": ("Доля речи консультанта", "%"),
    "reflection_to_question": ("Отражения на один вопрос", ""),
    "open_question_share": ("Доля открытых вопросов", "%"),
    "longest_silence_s": ("Самая длинная пауза, с", ""),
    "interruptions": ("Перебивания за звонок", ""),
    "speech_rate_wpm": ("Темп речи консультанта, слов в минуту", ""),
}

FLAGS_RU = {
    "missed_risk_assessment": "Пропущена оценка риска",
    "judgment": "Осуждение",
}

BANDS_RU = {
    scorer_pb2.BAND_HIGH: ("высокий", "#2e7d32"),
    scorer_pb2.BAND_MEDIUM: ("средний", "#f9a825"),
    scorer_pb2.BAND_LOW: ("низкий", "#c62828"),
}

_CSS = """
body{font-family:"PT Sans","Segoe UI",Arial,sans-serif;margin:2em auto;max-width:60em;color:#222;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin-top:1.8em;border-bottom:1px solid #ccc}
.muted{color:#666}.big{font-size:2em;font-weight:bold}
table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
.sig{color:#c62828;font-weight:bold}svg{display:block;margin:.5em 0;font-size:12px}
svg text{font-family:inherit}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(x: float, digits: int = 1) -> str:
    return f"{x:.{digits}f}".replace(".", ",").replace("-", "−")


def _pct(x: float, digits: int = 0) -> str:
    return f"{_num(100 * x, digits)}%"


def _signed(x: float, digits: int = 1) -> str:
    return ("+" if x > 0 else "") + _num(x, digits)


def _date(d) -> str:
    return f"{d.day:02d}.{d.month:02d}.{d.year:04d}"


def _period(p) -> str:
    return f"{_date(p.first_day)} — {_date(p.last_day)}"


def _ts(ts) -> str:
    if ts.seconds == 0 and ts.nanos == 0:
        return "—"
    t = ts.ToDatetime(tzinfo=dt.UTC)
    return t.strftime("%d.%m.%Y %H:%M UTC")


def _offset(d) -> str:
    total = d.seconds + d.nanos / 1e9
    minutes, seconds = divmod(int(total), 60)
    return f"{minutes:d}:{seconds:02d}"


def criterion_name(criterion_id: str) -> str:
    return CRITERIA_RU.get(criterion_id, criterion_id)


def _page(title: str, body: Iterable[str]) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="ru">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    """Rows are already-escaped HTML fragments; headers are plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(
            f'<td class="num">{cell}</td>' if i in numeric else f"<td>{cell}</td>" for i, cell in enumerate(row)
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# --- charts --------------------------------------------------------------------------------------------------


def _band_chart(bands: Sequence[report_pb2.BandCount]) -> str:
    total = sum(b.calls for b in bands) or 1
    label_w, bar_w, row_h = 90, 360, 26
    height = row_h * len(bands) + 10
    parts = [
        f'<svg role="img" aria-label="{_e("Распределение по уровням")}" width="{label_w + bar_w + 90}" '
        f'height="{height}" viewBox="0 0 {label_w + bar_w + 90} {height}">'
    ]
    for i, b in enumerate(bands):
        name, colour = BANDS_RU.get(b.band, ("не указан", "#999"))
        y = 5 + i * row_h
        w = bar_w * b.calls / total
        parts.append(f'<text x="0" y="{y + 15}">{_e(name)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w}" height="18" fill="#eee"/>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="18" fill="{colour}"/>')
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}">{b.calls} ({_pct(b.calls / total)})</text>')
    parts.append("</svg>")
    return "".join(parts)


def _compliance_chart(criteria: Sequence[report_pb2.CriterionCompliance]) -> str:
    """Horizontal bars of the compliance rate with the Wilson interval as a whisker; no bar without data."""
    label_w, bar_w, row_h = 190, 340, 24
    width = label_w + bar_w + 70
    height = row_h * len(criteria) + 30
    parts = [
        f'<svg role="img" aria-label="{_e("Соответствие критериям")}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    for tick in (0, 0.25, 0.5, 0.75, 1):
        x = label_w + bar_w * tick
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 5}" text-anchor="middle">{_pct(tick)}</text>')
    for i, c in enumerate(criteria):
        y = 4 + i * row_h
        parts.append(f'<text x="0" y="{y + 13}">{_e(criterion_name(c.criterion_id))}</text>')
        if c.applicable_calls == 0:
            parts.append(f'<text x="{label_w + 4}" y="{y + 13}" fill="#888">{_e("нет данных")}</text>')
            continue
        r = c.rate
        fill = _rate_colour(r.estimate)
        parts.append(f'<rect x="{label_w}" y="{y}" width="{bar_w * r.estimate:.1f}" height="16" fill="{fill}"/>')
        x1, x2, mid = label_w + bar_w * r.low, label_w + bar_w * r.high, y + 8
        parts.append(f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#222" stroke-width="1.5"/>')
        for x in (x1, x2):
            parts.append(
                f'<line x1="{x:.1f}" y1="{mid - 5}" x2="{x:.1f}" y2="{mid + 5}" stroke="#222" stroke-width="1.5"/>'
            )
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 13}">{_pct(r.estimate)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _rate_colour(rate: float) -> str:
    """Red (0%) through yellow to green (100%)."""
    hue = max(0.0, min(1.0, rate)) * 120
    return f"hsl({hue:.0f},65%,50%)"


def _ranking_chart(regions: Sequence[report_pb2.RegionReport], ranking: Sequence[report_pb2.RegionRank]) -> str:
    """Mean score per region (dot) with its 95% interval (whisker), in ranking order; scale 0–100."""
    by_code = {r.region_code: r for r in regions}
    label_w, plot_w, row_h, rank_w = 260, 380, 22, 70
    width = rank_w + label_w + plot_w + 50
    height = row_h * len(ranking) + 30
    parts = [
        f'<svg role="img" aria-label="{_e("Рейтинг регионов")}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
    ]
    x0 = rank_w + label_w
    for tick in range(0, 101, 20):
        x = x0 + plot_w * tick / 100
        parts.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 20}" stroke="#ddd"/>')
        parts.append(f'<text x="{x:.1f}" y="{height - 5}" text-anchor="middle">{tick}</text>')
    for i, rank in enumerate(ranking):
        r = by_code.get(rank.region_code)
        if r is None:
            continue
        y = 4 + i * row_h
        mid = y + 8
        places = f"{rank.rank_low}" if rank.rank_low == rank.rank_high else f"{rank.rank_low}–{rank.rank_high}"
        parts.append(f'<text x="0" y="{y + 12}">{_e(places)}</text>')
        parts.append(f'<text x="{rank_w}" y="{y + 12}">{_e(r.region_name)}</text>')
        m = r.mean_score
        x1, x2, xm = (x0 + plot_w * v / 100 for v in (m.low, m.high, m.estimate))
        parts.append(f'<line x1="{x1:.1f}" y1="{mid}" x2="{x2:.1f}" y2="{mid}" stroke="#555" stroke-width="1.5"/>')
        for x in (x1, x2):
            parts.append(
                f'<line x1="{x:.1f}" y1="{mid - 5}" x2="{x:.1f}" y2="{mid + 5}" stroke="#555" stroke-width="1.5"/>'
            )
        parts.append(
            f'<circle cx="{xm:.1f}" cy="{mid}" r="4.5" fill="{_rate_colour(m.estimate / 100)}" stroke="#222"/>'
        )
        parts.append(f'<text x="{x0 + plot_w + 8}" y="{y + 12}">{_num(m.estimate)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _heatmap(regions: Sequence[report_pb2.RegionReport], criteria_ids: Sequence[str]) -> str:
    """Criteria × regions: one row per region (given order), one column per criterion, each cell coloured by
    the compliance rate and labelled with it; grey without data. Rows, not columns, for regions: 89 of them
    scroll down, not sideways."""
    col_w, row_h, label_w, head_h = 46, 22, 300, 140
    width = label_w + col_w * len(criteria_ids) + 150  # room for the slanted last headers
    height = head_h + row_h * len(regions) + 10
    parts = [
        f'<svg role="img" aria-label="{_e("Соответствие критериям по регионам")}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">'
    ]
    for j, cid in enumerate(criteria_ids):
        x = label_w + j * col_w + col_w / 2
        parts.append(
            f'<text x="{x:.1f}" y="{head_h - 6}" transform="rotate(-50 {x:.1f} {head_h - 6})">'
            f"{_e(criterion_name(cid))}</text>"
        )
    for i, r in enumerate(regions):
        y = head_h + i * row_h
        by_id = {c.criterion_id: c for c in r.criteria}
        parts.append(f'<text x="0" y="{y + row_h / 2 + 4:.1f}">{_e(r.region_name)}</text>')
        for j, cid in enumerate(criteria_ids):
            x = label_w + j * col_w
            c = by_id.get(cid)
            if c is None or c.applicable_calls == 0:
                fill, label, tip = "#ddd", "", "нет данных"
            else:
                fill, label = _rate_colour(c.rate.estimate), _num(100 * c.rate.estimate, 0)
                tip = f"{_pct(c.rate.estimate)} ({_pct(c.rate.low)}–{_pct(c.rate.high)}), n={c.applicable_calls}"
            parts.append(
                f'<rect x="{x}" y="{y}" width="{col_w - 2}" height="{row_h - 2}" fill="{fill}">'
                f"<title>{_e(r.region_name)}: {_e(criterion_name(cid))} — {_e(tip)}</title></rect>"
            )
            if label:
                parts.append(
                    f'<text x="{x + (col_w - 2) / 2:.1f}" y="{y + row_h / 2 + 3:.1f}" text-anchor="middle" '
                    f'font-size="10">{_e(label)}</text>'
                )
    parts.append("</svg>")
    return "".join(parts)


# --- sections ------------------------------------------------------------------------------------------------


def _summary(r: report_pb2.RegionReport) -> list[str]:
    m = r.mean_score
    out = ["<h2>Сводка</h2>"]
    rows = [
        ("Звонков в периоде (с согласием на проверку)", str(r.eligible_calls)),
        ("Отобрано для проверки", str(r.sampled_calls)),
        ("Оценено", str(r.scored_calls)),
        ("Не удалось обработать", str(r.failed_calls)),
    ]
    out.append(_table(["Показатель", "Значение"], ((_e(a), _e(b)) for a, b in rows), numeric=(1,)))
    if r.scored_calls:
        out.append(
            f'<p>Средний балл: <span class="big">{_num(m.estimate)}</span> из 100<br>'
            f"Доверительный интервал 95%: {_num(m.low)} — {_num(m.high)}</p>"
        )
    else:
        out.append("<p>Средний балл: нет оценённых звонков.</p>")
    comparisons = []
    for label, has, c in (
        ("С предыдущим периодом", r.HasField("vs_previous"), r.vs_previous),
        ("Со средним по России", r.HasField("vs_national"), r.vs_national),
    ):
        if not has:
            continue
        verdict = '<span class="sig">различие значимо</span>' if c.significant else "в пределах погрешности"
        comparisons.append((_e(label), _num(c.reference_mean_score), _signed(c.difference), verdict))
    if comparisons:
        out.append("<h3>Сравнение</h3>")
        out.append(_table(["Сравнение", "Средний балл для сравнения", "Разница", "Вывод"], comparisons, (1, 2)))
    return out


def _region_body(r: report_pb2.RegionReport) -> list[str]:
    out = _summary(r)
    out.append("<h2>Распределение по уровням</h2>")
    out.append('<p class="muted">высокий — 80 и выше, средний — от 50 до 80, низкий — ниже 50</p>')
    out.append(_band_chart(r.bands))

    out.append("<h2>Соответствие критериям</h2>")
    out.append(
        '<p class="muted">Доля звонков, где критерий выполнен, среди звонков, где он применим; '
        "отрезок — доверительный интервал 95% (Уилсон).</p>"
    )
    out.append(_compliance_chart(r.criteria))
    out.append(
        _table(
            ["Критерий", "Применим", "Выполнен", "Доля", "Доверительный интервал 95%"],
            (
                (
                    _e(criterion_name(c.criterion_id)),
                    str(c.applicable_calls),
                    str(c.met_calls),
                    _pct(c.rate.estimate) if c.applicable_calls else "—",
                    f"{_pct(c.rate.low)} — {_pct(c.rate.high)}" if c.applicable_calls else "—",
                )
                for c in r.criteria
            ),
            numeric=(1, 2, 3),
        )
    )

    if r.training_priorities:
        out.append("<h2>Приоритеты обучения</h2>")
        out.append(
            '<p class="muted">Критерии, по которым регион заметно (статистически значимо) ниже остальной страны.</p>'
        )
        out.append(
            _table(
                ["Критерий", "В регионе", "По России"],
                (
                    (_e(criterion_name(t.criterion_id)), _pct(t.region_rate), _pct(t.national_rate))
                    for t in r.training_priorities
                ),
                numeric=(1, 2),
            )
        )

    if r.measures:
        out.append("<h2>Показатели разговора</h2>")
        rows = []
        for m in r.measures:
            name, unit = MEASURES_RU.get(m.measure_id, (m.measure_id, ""))
            rows.append((_e(name), _pct(m.mean) if unit == "%" else _num(m.mean, 2)))
        out.append(_table(["Показатель (среднее)", "Значение"], rows, numeric=(1,)))

    out.append("<h2>Звонки для проверки</h2>")
    if r.flagged_calls:
        out.append('<p class="muted">Звонки с критическими нарушениями; моменты — где слушать запись. '
                   "«Вероятно» — модель считает нарушение самым вероятным прочтением звонка; «возможно» — "
                   "модель его лишь допускает (порог с упором на полноту: лучше лишний раз послушать, "
                   "чем пропустить).</p>")
        out.append(
            _table(
                ["Звонок", "Начало", "Нарушение", "Уверенность", "Балл", "Моменты", "Аудит"],
                (
                    (
                        _e(f.call_id),
                        _e(_ts(f.call_start)),
                        _e(FLAGS_RU.get(f.flag, f.flag)),
                        "вероятно" if f.likely else "возможно",
                        _num(f.score),
                        _e(", ".join(_offset(o) for o in f.offsets) or "—"),
                        _e(f.audit_id),
                    )
                    for f in r.flagged_calls
                ),
                numeric=(4,),
            )
        )
    else:
        out.append("<p>Нет звонков с критическими нарушениями.</p>")

    if r.counselors:
        out.append("<h2>Консультанты</h2>")
        out.append(
            _table(
                ["Консультант", "Звонков", "Средний балл", "Доверительный интервал 95%"],
                (
                    (
                        _e(c.counselor_pseudonym or "не указан"),
                        str(c.calls),
                        _num(c.mean_score.estimate),
                        f"{_num(c.mean_score.low)} — {_num(c.mean_score.high)}",
                    )
                    for c in r.counselors
                ),
                numeric=(1, 2),
            )
        )
    return out


def _models(report: report_pb2.RegionReport) -> list[str]:
    """Which models did the work, and a warning first when a speech model is not Russian."""
    out = []
    foreign = sorted({m.lang for m in report.models if m.kind == "speech" and m.lang and m.lang != "ru"})
    if foreign:
        out.append(f'<p class="sig">Внимание: часть звонков расшифрована моделью распознавания речи не для русского '
                   f"языка ({_e(', '.join(foreign))}). Расшифровки этих звонков, а значит и их оценки, "
                   "недостоверны.</p>")
    if report.models:
        names = {"speech": "распознавание речи", "scorer": "оценка"}
        uses = "; ".join(f"{names.get(m.kind, m.kind)}: {m.name}" + (f" ({m.lang})" if m.lang else "")
                         + f" — звонков: {m.calls}" for m in report.models)
        out.append(f'<p class="muted">Модели: {_e(uses)}</p>')
    return out


def render_region_html(report: report_pb2.RegionReport) -> str:
    """A region's (or the nation's) report as one self-contained HTML page."""
    title = f"Качество консультирования: {report.region_name}"
    head = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">Период: {_e(_period(report.period))}. Код региона: {_e(report.region_code)}. '
        f"Сформирован: {_e(_ts(report.generated_at))}.</p>",
        *_models(report),
    ]
    return _page(title, head + _region_body(report))


def render_cross_region_html(report: report_pb2.CrossRegionReport) -> str:
    """All regions side by side: national summary, ranking chart, criteria × regions heatmap, per-region table."""
    title = "Качество консультирования по регионам"
    n = report.national
    body = [
        f"<h1>{_e(title)}</h1>",
        f'<p class="muted">Период: {_e(_period(report.period))}. Сформирован: {_e(_ts(report.generated_at))}.</p>',
        *_models(n),
        f"<h2>{_e(n.region_name or 'Россия')}</h2>",
    ]
    body += _summary(n)[1:]
    body.append("<h3>Распределение по уровням</h3>")
    body.append(_band_chart(n.bands))

    body.append("<h2>Рейтинг регионов</h2>")
    body.append(
        '<p class="muted">Средний балл с доверительным интервалом 95%. Регионы, чьи интервалы пересекаются, '
        "не различаются по месту: место указано диапазоном.</p>"
    )
    if report.ranking:
        body.append(_ranking_chart(report.regions, report.ranking))
    else:
        body.append("<p>Нет регионов с оценёнными звонками.</p>")

    body.append("<h2>Соответствие критериям по регионам</h2>")
    criteria_ids = [c.criterion_id for c in n.criteria]
    if report.regions:
        by_code = {r.region_code: r for r in report.regions}
        in_rank_order = [by_code[k.region_code] for k in report.ranking if k.region_code in by_code]
        body.append('<p class="muted">Доля звонков, где критерий выполнен, %; регионы в порядке рейтинга.</p>')
        body.append(_heatmap(in_rank_order, criteria_ids))

    by_code = {r.region_code: r for r in report.regions}
    rows = []
    for rank in report.ranking:
        r = by_code.get(rank.region_code)
        if r is None:
            continue
        places = f"{rank.rank_low}" if rank.rank_low == rank.rank_high else f"{rank.rank_low}–{rank.rank_high}"
        flagged = len({f.call_id for f in r.flagged_calls})
        rows.append(
            (
                _e(places),
                _e(r.region_name),
                str(r.scored_calls),
                _num(r.mean_score.estimate),
                f"{_num(r.mean_score.low)} — {_num(r.mean_score.high)}",
                str(flagged),
                _e(", ".join(criterion_name(t.criterion_id) for t in r.training_priorities) or "—"),
            )
        )
    body.append("<h2>Регионы</h2>")
    body.append(
        _table(
            [
                "Место",
                "Регион",
                "Оценено",
                "Средний балл",
                "Доверительный интервал 95%",
                "Звонки для проверки",
                "Приоритеты обучения",
            ],
            rows,
            numeric=(2, 3, 5),
        )
    )
    return _page(title, body)

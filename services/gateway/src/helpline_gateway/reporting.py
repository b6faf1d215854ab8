"""Reports from the stored per-call results: loading, building (reports.py), rendering, storing.

Reports are computed from the result records of the period (`results/{region}/{day}/…`), listing
only the period's prefixes. They are stored in the object store and returned; each read is logged by
the caller (service.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

from helpline.gateway.v1 import audit_pb2, report_pb2
from helpline.scorer.v1 import scorer_pb2
from helpline_common import layout
from helpline_common.client import ServiceClient
from helpline_common.regions import regions
from helpline_common.storage import ObjectStore
from helpline_gateway import report_html, reports, sampling

HTML = report_pb2.REPORT_FORMAT_HTML


class ReportCenter:
    def __init__(self, store: ObjectStore, scorer: ServiceClient, min_call_seconds: float):
        self.store, self.scorer, self.min_call_seconds = store, scorer, min_call_seconds
        self._criteria: list[str] | None = None
        self._lock = threading.Lock()

    def criterion_ids(self) -> list[str]:
        """Criteria of the protocol in force, in protocol order (asked of the scorer once)."""
        with self._lock:
            if self._criteria is None:
                protocol = self.scorer.call("GetProtocol", scorer_pb2.GetProtocolRequest(), timeout=10)
                self._criteria = [c.criterion_id for c in protocol.criteria]
            return self._criteria

    # -- loading -------------------------------------------------------------------------------

    def _records(self, region: str, first: dt.date, last: dt.date) -> list[dict]:
        keys = [k for day in sampling.days(first, last)
                for k in self.store.list_keys(layout.result_day_prefix(region, day))]
        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(self.store.get_json, keys))

    def _region_data(self, region: str, first: dt.date, last: dt.date) -> tuple[list[dict], int, int]:
        """(scored results, failed count, eligible count) of a region and period."""
        records = self._records(region, first, last)
        scored = [r for r in records if r.get("status") == "scored"]
        failed = sum(1 for r in records if r.get("status") == "failed")
        candidates = sampling.list_candidates(self.store, [region], first, last)
        eligible = sum(1 for c in candidates if sampling.is_eligible(c, self.min_call_seconds))
        return scored, failed, eligible

    def _all_regions(self, first: dt.date, last: dt.date, codes=None) -> dict[str, tuple[list[dict], int, int]]:
        codes = sorted(codes or regions())
        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(codes, pool.map(lambda r: self._region_data(r, first, last), codes), strict=True))

    # -- building ------------------------------------------------------------------------------

    def build_region(self, region: str, first: dt.date, last: dt.date,
                     with_counselors: bool) -> report_pb2.RegionReport:
        period = reports.make_period(first, last)
        prev_first, prev_last = reports.period_dates(reports.previous_period(period))
        scored, failed, eligible = self._region_data(region, first, last)
        previous = [r for r in self._records(region, prev_first, prev_last) if r.get("status") == "scored"]
        national = [r for data in self._all_regions(first, last).values() for r in data[0]]
        return reports.build_region_report(
            region, period, scored, eligible_calls=eligible, sampled_calls=len(scored) + failed,
            failed_calls=failed, previous_results=previous, national_results=national,
            include_counselors=with_counselors, criteria_order=self.criterion_ids())

    def build_cross_region(self, first: dt.date, last: dt.date, codes=None) -> report_pb2.CrossRegionReport:
        period = reports.make_period(first, last)
        prev_first, prev_last = reports.period_dates(reports.previous_period(period))
        data = {r: d for r, d in self._all_regions(first, last, codes).items() if d[0] or d[1]}
        previous = {r: [x for x in self._records(r, prev_first, prev_last) if x.get("status") == "scored"]
                    for r in data}
        return reports.build_cross_region_report(
            period, {r: d[0] for r, d in data.items()}, eligible_by_region={r: d[2] for r, d in data.items()},
            sampled_by_region={r: len(d[0]) + d[1] for r, d in data.items()},
            failed_by_region={r: d[1] for r, d in data.items()}, previous_by_region=previous,
            criteria_order=self.criterion_ids())

    # -- rendering and storing -----------------------------------------------------------------

    def _store(self, report, key_base: str, fmt: int, html_renderer) -> tuple[bytes, str]:
        json_bytes = reports.to_json(report).encode()
        html_bytes = html_renderer(report).encode()
        self.store.put_bytes(f"{key_base}.json", json_bytes, "application/json")
        self.store.put_bytes(f"{key_base}.html", html_bytes, "text/html; charset=utf-8")
        return (html_bytes, f"{key_base}.html") if fmt == HTML else (json_bytes, f"{key_base}.json")

    def region(self, region: str, first: dt.date, last: dt.date, fmt: int, with_counselors: bool):
        report = self.build_region(region, first, last, with_counselors)
        audience = "supervisor" if with_counselors else "reviewer"
        key_base = layout.report_key(region, first, last, audience)
        return self._store(report, key_base, fmt, report_html.render_region_html)

    def cross_region(self, first: dt.date, last: dt.date, fmt: int):
        report = self.build_cross_region(first, last)
        return self._store(report, layout.report_key("national", first, last, "reviewer"), fmt,
                           report_html.render_cross_region_html)

    def flagged_calls(self, region: str, first: dt.date, last: dt.date) -> list[report_pb2.FlaggedCall]:
        scored, _failed, _eligible = self._region_data(region, first, last)
        if not scored:
            return []
        report = reports.build_region_report(region, reports.make_period(first, last), scored,
                                             eligible_calls=0, sampled_calls=len(scored),
                                             criteria_order=self.criterion_ids())
        return list(report.flagged_calls)

    def render_for_audit(self, audit: audit_pb2.Audit) -> None:
        """After an audit: its regions' reports, and the audit's own report (audits/{id}/report.*)."""
        first, last = reports.period_dates(audit.period)
        touched = [r for r in audit.region_codes if r in audit.eligible_calls and audit.eligible_calls[r] > 0]
        for region in touched:
            self.region(region, first, last, HTML, with_counselors=True)
        report = self.build_cross_region(first, last, touched or audit.region_codes)
        base = layout.audit_key(audit.audit_id, "report")
        self.store.put_bytes(f"{base}.json", reports.to_json(report).encode(), "application/json")
        self.store.put_bytes(f"{base}.html", report_html.render_cross_region_html(report).encode(),
                             "text/html; charset=utf-8")

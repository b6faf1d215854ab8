"""Object keys: the one place that knows where things live in the bucket (docs/conventions.md).

Recordings are partitioned by region and UTC day, so sampling a region and period lists only the
prefixes of that period, never the whole store.
"""

from __future__ import annotations

import datetime as dt
import re

CALL_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def day_prefix(region: str, day: dt.date) -> str:
    return f"recordings/{region}/{day:%Y/%m/%d}/"


def recording_key(region: str, call_start: dt.datetime, call_id: str, ext: str) -> str:
    day = call_start.astimezone(dt.UTC).date()
    return f"{day_prefix(region, day)}{call_id}.{ext}"


def recording_metadata_key(recording_key: str) -> str:
    """The JSON metadata object that sits beside a recording."""
    return recording_key.rsplit(".", 1)[0] + ".json"


def transcript_key(recording_sha256: str, speech_model_sha256: str) -> str:
    return f"transcripts/{recording_sha256}/{speech_model_sha256}.json"


def score_key(recording_sha256: str, scorer_model_version: str) -> str:
    return f"scores/{recording_sha256}/{scorer_model_version}.json"


def audit_prefix(audit_id: str) -> str:
    return f"audits/{audit_id}/"


def audit_key(audit_id: str, name: str) -> str:
    """audit.json, manifest.json, cancel.json, lease.json or calls/{call_id}.json of an audit."""
    return f"{audit_prefix(audit_id)}{name}"


def result_day_prefix(region: str, day: dt.date) -> str:
    """Per-call audit results (score summaries, no text), partitioned like recordings for reports."""
    return f"results/{region}/{day:%Y/%m/%d}/"


def result_key(region: str, call_start: dt.datetime, call_id: str) -> str:
    return f"{result_day_prefix(region, call_start.astimezone(dt.timezone.utc).date())}{call_id}.json"


def report_key(scope: str, first: dt.date, last: dt.date, audience: str) -> str:
    """Key without extension (.json and .html are stored); scope: a region code or "national";
    audience: "supervisor" (with the counselor breakdown) or "reviewer"."""
    return f"reports/{scope}/{first:%Y-%m-%d}_{last:%Y-%m-%d}-{audience}"


def review_key(region: str, call_id: str, review_id: str) -> str:
    return f"reviews/{region}/{call_id}/{review_id}.json"


def nightly_key(day: dt.date) -> str:
    return f"nightly/{day:%Y-%m-%d}.json"


def scorer_model_prefix(version: str) -> str:
    return f"models/scorer/{version}/"


SCORER_PROMOTED_KEY = "models/scorer/promoted.json"


def vosk_model_key(name: str) -> str:
    return f"models/vosk/{name}.zip"


def access_log_key(when: dt.datetime, entry_id: str) -> str:
    when = when.astimezone(dt.UTC)
    return f"access-log/{when:%Y/%m/%d}/{when:%H%M%S%f}-{entry_id}.json"

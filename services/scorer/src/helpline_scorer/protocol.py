"""Protocol v1 as data (protocol/v1.yaml): codes, criteria with rules and weights, bands, the critical flags'
operating point and the caller words that always reach the review list."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from helpline_scorer.transcript import COUNSELOR

QUESTION_CODES = frozenset({"open_question", "closed_question"})


def coding_conventions(codes: set[str], speaker: str) -> set[str]:
    """PROTOCOL.md's coding conventions for a counselor segment's codes (others are returned as they are): a
    resource or risk question is not also an open/closed question; `other` only when nothing else applies
    (and always when nothing else does). Used for predicted and for adjudicated codes alike."""
    if speaker != COUNSELOR:
        return codes
    if codes & {"risk_question", "resource_exploration"}:
        codes -= QUESTION_CODES
    if len(codes) > 1:
        codes.discard("other")
    if not codes:
        codes = {"other"}
    return codes


RULE_KINDS = {"count_at_least", "count_below", "in_first_turns", "in_last_turns", "if_cue", "talk_share_at_most"}


@dataclass(frozen=True)
class Criterion:
    id: str
    description: str
    rule: dict[str, Any]
    weight: int
    critical_flag: str | None = None


@dataclass(frozen=True)
class Protocol:
    version: str
    counselor_codes: dict[str, str]
    caller_codes: dict[str, str]
    criteria: tuple[Criterion, ...]
    bands: tuple[tuple[str, float], ...]  # (band, min_score), highest first
    source_yaml: str = field(repr=False, default="")
    review_threshold_factor: float = 1.0  # the critical flags' operating point (v1.yaml says how)
    always_review_code: str = ""  # the caller code the patterns below always give in the flags' review view
    always_review_patterns: tuple[tuple[str, re.Pattern], ...] = ()

    def band(self, score: float) -> str:
        for name, minimum in self.bands:
            if score >= minimum:
                return name
        return self.bands[-1][0]


def first_match(patterns: tuple[tuple[str, re.Pattern], ...], text: str) -> str | None:
    """The name of the first of `patterns` that the words match (on their ASR-normalised text and its lemmas)."""
    if not patterns:
        return None
    from helpline_scorer.textnorm import asr_text, lemmas

    normalized = asr_text(text)
    searched = f"{normalized} | {lemmas(normalized)}"
    return next((name for name, pattern in patterns if pattern.search(searched)), None)


def load_protocol(path: Path | None = None) -> Protocol:
    """Load and check a protocol file; a broken file is a ValueError naming the problem."""
    text = path.read_text(encoding="utf-8") if path else \
        resources.files("helpline_scorer").joinpath("protocol/v1.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    codes = data["codes"]
    known = set(codes["counselor"]) | set(codes["caller"])
    criteria = []
    for raw in data["criteria"]:
        rule = dict(raw["rule"])
        if rule.get("kind") not in RULE_KINDS:
            raise ValueError(f"criterion {raw['id']}: unknown rule kind {rule.get('kind')!r}")
        for code in [*rule.get("codes", []), *([rule["cue"]] if "cue" in rule else [])]:
            if code not in known:
                raise ValueError(f"criterion {raw['id']}: unknown code {code!r}")
        if int(raw["weight"]) < 0:
            raise ValueError(f"criterion {raw['id']}: negative weight")
        criteria.append(Criterion(raw["id"], raw.get("description", ""), rule, int(raw["weight"]),
                                  raw.get("critical_flag")))
    bands = tuple(sorted(((b["band"], float(b["min_score"])) for b in data["bands"]), key=lambda b: -b[1]))
    flags = data.get("flags") or {}
    factor = float(flags.get("review_threshold_factor", 1.0))
    if not factor > 0:
        raise ValueError(f"flags.review_threshold_factor must be positive, not {factor}")
    always = flags.get("always_review") or {}
    if always and always.get("code") not in codes["caller"]:
        raise ValueError(f"flags.always_review.code must be a caller code, not {always.get('code')!r}")
    patterns = []
    for name, pattern in (always.get("patterns") or {}).items():
        try:
            patterns.append((str(name), re.compile(pattern)))
        except re.error as exc:
            raise ValueError(f"flags.always_review.patterns.{name}: {exc}") from None
    return Protocol(str(data["version"]), dict(codes["counselor"]), dict(codes["caller"]), tuple(criteria),
                    bands, text, factor, always.get("code", ""), tuple(patterns))

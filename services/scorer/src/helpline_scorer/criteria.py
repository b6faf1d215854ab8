"""Call-level criteria, score, band, critical flags and conversation measures (PROTOCOL.md), computed
from per-segment codes (and, when a model produced them, per-segment probabilities).

Pure functions: the rule parameters come from the protocol file, never from code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache

from helpline_scorer.protocol import Criterion, Protocol, first_match
from helpline_scorer.transcript import CALLER, COUNSELOR, Call, Segment

MET, NOT_MET, NOT_APPLICABLE = "met", "not_met", "not_applicable"


@dataclass(frozen=True)
class Evidence:
    segment_index: int
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class CriterionResult:
    criterion_id: str
    outcome: str  # met, not_met, not_applicable
    confidence: float
    evidence: tuple[Evidence, ...]
    weight: int
    critical_flag: str | None


@dataclass(frozen=True)
class Measures:
    counselor_talk_share: float
    reflection_to_question: float
    open_question_share: float
    longest_silence_s: float
    interruptions: int
    speech_rate_wpm: float


@dataclass(frozen=True)
class SegmentCodes:
    index: int
    speaker: str
    codes: tuple[str, ...]
    probabilities: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class CallResult:
    call_id: str
    protocol_version: str
    model_version: str
    score: float
    band: str
    critical: tuple[str, ...]
    criteria: tuple[CriterionResult, ...]
    segments: tuple[SegmentCodes, ...]
    measures: Measures

    def outcomes(self) -> dict[str, str]:
        return {c.criterion_id: c.outcome for c in self.criteria}


# -- probabilities ---------------------------------------------------------------------------------

def _p_any(probs: Sequence[float]) -> float:
    """P(at least one) for independent events."""
    q = 1.0
    for p in probs:
        q *= 1.0 - p
    return 1.0 - q


def _p_at_least(probs: Sequence[float], k: int) -> float:
    """P(at least k of independent events) — the Poisson-binomial tail, by dynamic programming."""
    if k <= 0:
        return 1.0
    dist = [1.0] + [0.0] * k  # dist[j] = P(exactly j so far), the last cell holds "k or more"
    for p in probs:
        for j in range(k, 0, -1):  # downwards, so dist[j - 1] is still the previous step's value
            dist[j] = dist[j] * (1.0 if j == k else 1.0 - p) + dist[j - 1] * p
        dist[0] *= 1.0 - p
    return dist[k]


# -- criteria --------------------------------------------------------------------------------------

class _View:
    """The call with codes and probabilities, as the rules need it."""

    def __init__(self, call: Call, codes: Sequence[set[str] | frozenset[str] | tuple[str, ...]],
                 probs: Sequence[Mapping[str, float]] | None):
        self.call = call
        self.codes = [set(c) for c in codes]
        self.probs = probs
        self.counselor = [s for s in call.segments if s.speaker == COUNSELOR]
        self.caller = [s for s in call.segments if s.speaker == CALLER]

    def carries(self, seg: Segment, codes: Sequence[str]) -> bool:
        return bool(self.codes[seg.index] & set(codes))

    def p(self, seg: Segment, codes: Sequence[str]) -> float:
        """Probability that the segment carries any of `codes` (1/0 for given codes without a model)."""
        if self.probs is None:
            return 1.0 if self.carries(seg, codes) else 0.0
        return _p_any([self.probs[seg.index].get(c, 0.0) for c in codes])

    def evidence(self, segs: Sequence[Segment], codes: Sequence[str]) -> tuple[Evidence, ...]:
        return tuple(Evidence(s.index, s.start, s.end, round(self.p(s, codes), 4)) for s in segs)


def _segments_for(view: _View, codes: Sequence[str], protocol: Protocol) -> list[Segment]:
    caller_only = all(c in protocol.caller_codes for c in codes)
    return view.caller if caller_only else view.counselor


def evaluate_criterion(criterion: Criterion, view: _View, protocol: Protocol) -> CriterionResult:
    rule = criterion.rule
    kind = rule["kind"]
    codes = list(rule.get("codes", []))
    evidence: tuple[Evidence, ...] = ()
    if kind in ("count_at_least", "count_below"):
        pool = _segments_for(view, codes, protocol)
        hits = [s for s in pool if view.carries(s, codes)]
        probs = [view.p(s, codes) for s in pool]
        if kind == "count_at_least":
            outcome = MET if len(hits) >= rule["min"] else NOT_MET
            p_met = _p_at_least(probs, rule["min"])
        else:
            outcome = MET if len(hits) < rule["max"] else NOT_MET
            p_met = 1.0 - _p_at_least(probs, rule["max"])
        confidence = p_met if outcome == MET else 1.0 - p_met
        evidence = view.evidence(hits, codes)
    elif kind in ("in_first_turns", "in_last_turns"):
        turns = int(rule["turns"])
        window = view.counselor[:turns] if kind == "in_first_turns" else view.counselor[-turns:]
        hits = [s for s in window if view.carries(s, codes)]
        outcome = MET if hits else NOT_MET
        p_met = _p_any([view.p(s, codes) for s in window])
        confidence = p_met if outcome == MET else 1.0 - p_met
        evidence = view.evidence(hits, codes)
    elif kind == "if_cue":
        cue = [rule["cue"]]
        cue_pool = _segments_for(view, cue, protocol)
        cues = [s for s in cue_pool if view.carries(s, cue)]
        p_cue = _p_any([view.p(s, cue) for s in cue_pool])
        pool = _segments_for(view, codes, protocol)
        hits = [s for s in pool if view.carries(s, codes)]
        p_met = _p_at_least([view.p(s, codes) for s in pool], rule["min"])
        if not cues:
            outcome, confidence = NOT_APPLICABLE, 1.0 - p_cue
        elif len(hits) >= rule["min"]:
            outcome, confidence = MET, p_cue * p_met
        else:
            outcome, confidence = NOT_MET, p_cue * (1.0 - p_met)
        if cues:
            evidence = tuple(sorted(view.evidence(cues, cue) + view.evidence(hits, codes),
                                    key=lambda e: e.segment_index))
    elif kind == "talk_share_at_most":
        share = talk_share(view.call)
        if share is None:
            outcome = NOT_APPLICABLE
        else:
            outcome = MET if share <= float(rule["max_share"]) else NOT_MET
        confidence = 1.0  # computed from timings, not from the model
    else:  # load_protocol refuses unknown kinds; this guards hand-built protocols
        raise ValueError(f"unknown rule kind {kind!r}")
    return CriterionResult(criterion.id, outcome, round(float(confidence), 4), evidence, criterion.weight,
                           criterion.critical_flag)


def score_of(results: Sequence[CriterionResult]) -> float:
    applicable = [r for r in results if r.outcome != NOT_APPLICABLE]
    total = sum(r.weight for r in applicable)
    if total == 0:
        return 0.0
    return round(100.0 * sum(r.weight for r in applicable if r.outcome == MET) / total, 2)


def critical_flags(results: Sequence[CriterionResult]) -> tuple[str, ...]:
    return tuple(r.critical_flag for r in results if r.critical_flag and r.outcome == NOT_MET)


# -- measures --------------------------------------------------------------------------------------

def talk_share(call: Call) -> float | None:
    counselor = sum(s.duration for s in call.segments if s.speaker == COUNSELOR)
    total = sum(s.duration for s in call.segments)
    return counselor / total if total > 0 else None


def longest_silence(call: Call) -> float:
    """Longest stretch with nobody speaking, between the first and the last speech."""
    spans = sorted((s.start, s.end) for s in call.segments)
    longest, reach = 0.0, None
    for start, end in spans:
        if reach is not None and start > reach:
            longest = max(longest, start - reach)
        reach = end if reach is None else max(reach, end)
    return longest


def interruptions(call: Call) -> int:
    """Counselor segments that start while a caller segment is still going."""
    callers = [s for s in call.segments if s.speaker == CALLER]
    return sum(1 for s in call.segments if s.speaker == COUNSELOR
               and any(c.start < s.start < c.end for c in callers))


def measures(call: Call, codes: Sequence[set[str] | frozenset[str] | tuple[str, ...]]) -> Measures:
    def count(code: str) -> int:
        return sum(1 for s in call.segments if s.speaker == COUNSELOR and code in codes[s.index])

    reflections, open_q, closed_q = count("reflection"), count("open_question"), count("closed_question")
    questions = open_q + closed_q
    counselor = [s for s in call.segments if s.speaker == COUNSELOR]
    minutes = sum(s.duration for s in counselor) / 60.0
    words = sum(len(s.text.split()) for s in counselor)
    return Measures(
        counselor_talk_share=round(talk_share(call) or 0.0, 4),
        # Reflections per open or closed question; with no question, the number of reflections.
        reflection_to_question=round(reflections / questions if questions else float(reflections), 4),
        open_question_share=round(open_q / questions if questions else 0.0, 4),
        longest_silence_s=round(longest_silence(call), 3),
        interruptions=interruptions(call),
        speech_rate_wpm=round(words / minutes if minutes > 0 else 0.0, 2),
    )


def with_always_review(protocol: Protocol, call: Call,
                       review_codes: Sequence[set[str] | frozenset[str] | tuple[str, ...]]) -> list[frozenset[str]]:
    """The review codes, with the protocol's `flags.always_review` code on every caller segment whose words
    match one of its patterns (explicit words of wanting to die, suicide or self-harm)."""
    code = protocol.always_review_code
    said = always_review_segments(protocol.always_review_patterns, call) if code else frozenset()
    return [frozenset(c) | {code} if s.index in said else frozenset(c)
            for s, c in zip(call.segments, review_codes, strict=True)]


@lru_cache(maxsize=2048)
def always_review_segments(patterns: tuple, call: Call) -> frozenset[int]:
    # Cached: training evaluates the same calls' flags (two views of a few hundred calls) once for every
    # threshold it tries. The service sees each call once; the cache only holds its last 2048.
    return frozenset(s.index for s in call.segments if s.speaker == CALLER and first_match(patterns, s.text))


def evaluate_call(protocol: Protocol, call: Call,
                  codes: Sequence[set[str] | frozenset[str] | tuple[str, ...]],
                  probs: Sequence[Mapping[str, float]] | None = None,
                  model_version: str = "",
                  review_codes: Sequence[set[str] | frozenset[str] | tuple[str, ...]] | None = None) -> CallResult:
    """Apply every criterion of the protocol to a call whose segments carry `codes`.

    With `review_codes` (a model's recall-first view, model.py, plus the protocol's always-review words),
    the critical flags are those of the critical criteria evaluated on the review codes as well: the
    outcomes, score and band stay those of `codes`, and a criterion whose flag only the review view raises
    carries that view's evidence, so a supervisor can listen to what raised it.
    """
    if any(v is not None and len(v) != len(call.segments) for v in (codes, probs, review_codes)):
        raise ValueError("codes, probabilities and review codes must have one entry per segment")
    view = _View(call, codes, probs)
    results = [evaluate_criterion(c, view, protocol) for c in protocol.criteria]
    flags = set(critical_flags(results))
    if review_codes is not None:
        review = _View(call, with_always_review(protocol, call, review_codes), probs)
        for i, criterion in enumerate(protocol.criteria):
            if not criterion.critical_flag or criterion.critical_flag in flags:
                continue
            seen = evaluate_criterion(criterion, review, protocol)
            if seen.outcome == NOT_MET:
                flags.add(criterion.critical_flag)
                results[i] = replace(results[i], evidence=seen.evidence)
    score = score_of(results)
    segments = tuple(
        SegmentCodes(s.index, s.speaker, tuple(sorted(view.codes[s.index])),
                     dict(probs[s.index]) if probs is not None else {})
        for s in call.segments)
    return CallResult(call.call_id, protocol.version, model_version, score, protocol.band(score),
                      tuple(c.critical_flag for c in protocol.criteria if c.critical_flag in flags),
                      tuple(results), segments, measures(call, view.codes))

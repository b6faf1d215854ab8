"""The training corpus (data/FORMAT.md): whole calls and single utterances, per author.

The written calls have no timings; the loader derives them, deterministically from the call id:
each segment lasts (words / a speaking rate drawn from 2.2–2.8 words per second, at least 0.6 s),
turns are separated by gaps of 0.2–1.5 s with an occasional long pause (5 % of turns, 2–6 s), and
8 % of speaker changes overlap the previous segment by 0.2–0.8 s (an interruption when the counselor
starts). Talk balance and the measures of corpus calls thus follow from how much each side says.

The writers' files are never edited. Where a second annotation disagreed with a writer, `adjudication.jsonl`
in the corpus folder records the adjudicated decision (per call segment, or per single utterance), and the
loader applies it on top of the writer's codes (data/annotation/README.md).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from helpline_scorer.protocol import Protocol, coding_conventions
from helpline_scorer.textnorm import asr_text
from helpline_scorer.transcript import CALLER, COUNSELOR, Call, make_call

log = logging.getLogger(__name__)

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "data" / "corpus"
ADJUDICATION_FILE = "adjudication.jsonl"  # in the corpus folder; not an author's file (no `_calls` suffix)


@dataclass(frozen=True)
class CorpusCall:
    call: Call
    codes: tuple[frozenset[str], ...]  # gold codes per segment
    author: str
    meta: dict = field(default_factory=dict, compare=False)

    @property
    def call_id(self) -> str:
        return self.call.call_id


@dataclass(frozen=True)
class Utterance:
    speaker: str
    context: str
    text: str
    codes: frozenset[str]
    author: str
    uid: str


@dataclass
class Corpus:
    calls: list[CorpusCall]
    utterances: list[Utterance]
    problems: Counter = field(default_factory=Counter)

    @property
    def authors(self) -> list[str]:
        return sorted({c.author for c in self.calls} | {u.author for u in self.utterances})

    def fingerprint(self) -> str:
        """SHA-256 of what training reads (texts, speakers, codes, authors): equal for the same corpus."""
        h = hashlib.sha256()
        for c in self.calls:
            h.update(json.dumps([c.call_id, c.author, [(s.speaker, s.text) for s in c.call.segments],
                                 [sorted(x) for x in c.codes]], ensure_ascii=False).encode())
        for u in self.utterances:
            h.update(json.dumps([u.uid, u.speaker, u.context, u.text, sorted(u.codes)], ensure_ascii=False).encode())
        return h.hexdigest()

    def stats(self) -> dict:
        counselor = sum(1 for c in self.calls for s in c.call.segments if s.speaker == COUNSELOR)
        counselor += sum(1 for u in self.utterances if u.speaker == COUNSELOR)
        per_code: Counter = Counter()
        for c in self.calls:
            for codes in c.codes:
                per_code.update(codes)
        for u in self.utterances:
            per_code.update(u.codes)
        return {"sha256": self.fingerprint(), "calls": len(self.calls), "utterances": len(self.utterances),
                "call_segments": sum(len(c.call.segments) for c in self.calls),
                "counselor_utterances": counselor, "authors": self.authors,
                "per_code": dict(sorted(per_code.items())), "problems": dict(self.problems)}


def derive_timings(call_id: str, texts: list[tuple[str, str]]) -> list[tuple[float, float]]:
    """(start, end) per (speaker, text), deterministic from the call id (see the module docstring)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big"))
    times: list[tuple[float, float]] = []
    t = round(rng.uniform(0.3, 1.0), 2)
    prev_speaker = None
    for speaker, text in texts:
        words = len(asr_text(text).split())
        duration = max(0.6, words / rng.uniform(2.2, 2.8))
        if times:
            prev_start, prev_end = times[-1]
            if speaker != prev_speaker and prev_end - prev_start > 1.5 and rng.random() < 0.08:
                t = prev_end - rng.uniform(0.2, 0.8)
            elif rng.random() < 0.05:
                t = prev_end + rng.uniform(2.0, 6.0)
            else:
                t = prev_end + rng.uniform(0.2, 1.5)
        times.append((round(t, 2), round(t + duration, 2)))
        prev_speaker = speaker
    return times


def _clean_codes(raw, speaker: str, protocol: Protocol, problems: Counter) -> set[str]:
    allowed = protocol.counselor_codes if speaker == COUNSELOR else protocol.caller_codes
    codes = set()
    for code in raw or []:
        if code in allowed:
            codes.add(code)
        else:
            problems["unknown_or_misplaced_code"] += 1
    return codes


@dataclass(frozen=True)
class Decision:
    """An adjudicated (segment, code) of a call, or code of a single utterance (segment 0): what the writer
    said, and what holds."""

    segment: int
    code: str
    writer: bool
    final: bool
    instead: str | None = None  # for a risk question that is not one: the question it is


def load_adjudication(directory: Path) -> dict[str, list[Decision]]:
    """{call id or utterance id: decisions} from the corpus folder's adjudication file (none: no decisions).
    The two kinds of id never collide: an utterance's is `<author>-u<line>`."""
    path = directory / ADJUDICATION_FILE
    if not path.is_file():
        return {}
    out: dict[str, list[Decision]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            r = json.loads(line)
            out.setdefault(r.get("call_id") or r["utterance"], []).append(
                Decision(r.get("segment", 0), r["code"], r["writer"], r["final"], r.get("instead")))
    return out


def adjudicate(codes: list[set[str]], speakers: list[str], decisions: list[Decision], problems: Counter) -> None:
    """Apply one call's (or utterance's) decisions to its per-segment codes, in place, keeping PROTOCOL.md's
    conventions (a risk question is not also an open or closed question; `other` only alone). A decision whose
    recorded writer's label is no longer the file's (the writer edited it since) is stale: counted, skipped."""
    for d in decisions:
        if not 0 <= d.segment < len(codes) or (d.code in codes[d.segment]) != d.writer:
            problems["stale_adjudication"] += 1
            continue
        if d.final == d.writer:
            continue
        seg = codes[d.segment]
        if d.final:
            seg.add(d.code)
        else:
            seg.discard(d.code)
            if d.instead:
                seg.add(d.instead)
        codes[d.segment] = coding_conventions(seg, speakers[d.segment])


def _jsonl(directory: Path, kind: str, authors: set[str] | None):
    """(author, file name, line number, text) of every non-empty line of the `<tag>_<kind>.jsonl` files."""
    for path in sorted(directory.glob(f"*_{kind}.jsonl")):
        author = path.name.split("_")[0]
        if authors and author not in authors:
            continue
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                yield author, path.name, lineno, line


def _skipped(corpus: Corpus, problem: str, file: str, lineno: int, exc: Exception) -> None:
    corpus.problems[problem] += 1
    log.warning("skipped corpus line", extra={"file": file, "line": lineno, "error": type(exc).__name__})


def load_corpus(directory: Path | None, protocol: Protocol, authors: set[str] | None = None) -> Corpus:
    """Read every `<tag>_calls.jsonl` and `<tag>_utterances.jsonl`, with the adjudicated codes applied;
    malformed lines are counted, skipped."""
    directory = directory or DEFAULT_CORPUS
    corpus = Corpus([], [])
    decisions = load_adjudication(directory)
    for author, file, lineno, line in _jsonl(directory, "calls", authors):
        try:
            data = json.loads(line)
            segs = [(s["speaker"], s["text"]) for s in data["segments"]]
            if not segs or any(sp not in (CALLER, COUNSELOR) or not isinstance(t, str) for sp, t in segs):
                raise ValueError("bad segment")
            call_id = str(data["call_id"])
            times = derive_timings(call_id, segs)
            call = make_call(call_id, [(sp, a, b, t) for (sp, t), (a, b) in zip(segs, times, strict=True)])
            codes = [_clean_codes(s.get("codes"), s["speaker"], protocol, corpus.problems) for s in data["segments"]]
            adjudicate(codes, [sp for sp, _ in segs], decisions.get(call_id, []), corpus.problems)
        except (ValueError, KeyError, TypeError) as exc:
            _skipped(corpus, "bad_call_line", file, lineno, exc)
            continue
        meta = {k: data.get(k) for k in ("caller_type", "address", "topic", "counselor_quality")}
        corpus.calls.append(CorpusCall(call, tuple(frozenset(c) for c in codes), author, meta))
    seen_ids = Counter(c.call_id for c in corpus.calls)
    if any(n > 1 for n in seen_ids.values()):
        corpus.problems["duplicate_call_id"] += sum(n - 1 for n in seen_ids.values() if n > 1)
    for author, file, lineno, line in _jsonl(directory, "utterances", authors):
        try:
            data = json.loads(line)
            speaker = data["speaker"]
            if speaker not in (CALLER, COUNSELOR) or not isinstance(data["text"], str):
                raise ValueError("bad utterance")
            uid = f"{author}-u{lineno}"
            codes = [_clean_codes(data.get("codes"), speaker, protocol, corpus.problems)]
            adjudicate(codes, [speaker], decisions.get(uid, []), corpus.problems)
            corpus.utterances.append(Utterance(speaker, str(data.get("context") or ""), data["text"],
                                               frozenset(codes[0]), author, uid))
        except (ValueError, KeyError, TypeError) as exc:
            _skipped(corpus, "bad_utterance_line", file, lineno, exc)
    return corpus

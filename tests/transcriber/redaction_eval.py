"""Recall of the redaction per entity type on the labelled sets in data/ (and over-redaction on the rest).

    .venv/bin/python -m tests.transcriber.redaction_eval

Three views: written text (case, punctuation), the same text lower-cased without punctuation, and
speech-recognition style text (lower case, no punctuation, numbers spoken as words). An entity counts
as found only when every letter and digit of it is inside a redacted span.
"""

from __future__ import annotations

import re
from pathlib import Path

from helpline_transcriber.redaction import TYPES, Redactor, tokenize

DATA = Path(__file__).parent / "data"
_MARK = re.compile(r"\{(\w+):([^}]*)\}")


def parse(line: str) -> tuple[str, list[tuple[int, int, str]]]:
    text, entities, pos = [], [], 0
    out_len = 0
    for m in _MARK.finditer(line):
        text.append(line[pos:m.start()])
        out_len += m.start() - pos
        entities.append((out_len, out_len + len(m.group(2)), m.group(1)))
        text.append(m.group(2))
        out_len += len(m.group(2))
        pos = m.end()
    text.append(line[pos:])
    return "".join(text), entities


def flatten(text: str, entities):
    """Lower case without sentence punctuation, with the entity offsets carried over."""
    keep, mapping = [], []
    for i, ch in enumerate(text):
        nxt = text[i + 1] if i + 1 < len(text) else " "
        if ch in ",!?;:«»\"()" or (ch == "." and (nxt.isspace() or i + 1 == len(text))):
            continue
        keep.append(ch.lower())
        mapping.append(i)
    new = "".join(keep)
    remap = []
    for s, e, t in entities:
        idx = [j for j, i in enumerate(mapping) if s <= i < e]
        remap.append((idx[0], idx[-1] + 1, t))
    return re.sub(r"\s+", " ", new), _respace(new, remap)


def _respace(text: str, entities):
    # collapsing spaces shifts offsets: recompute by walking
    out, mapping, prev_space = [], [], False
    for i, ch in enumerate(text):
        if ch.isspace():
            if prev_space:
                continue
            prev_space = True
        else:
            prev_space = False
        out.append(ch)
        mapping.append(i)
    inv = {i: j for j, i in enumerate(mapping)}
    return [(inv.get(s, 0), inv.get(e - 1, 0) + 1, t) for s, e, t in entities]


def load(name: str):
    items = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            items.append(parse(line))
    return items


def evaluate(redactor: Redactor, items) -> dict:
    found = dict.fromkeys(TYPES, 0)
    total = dict.fromkeys(TYPES, 0)
    clean_tokens = over = 0
    for text, entities in items:
        tokens = tokenize(text)
        covered = [False] * len(text)
        for span in redactor.find(tokens, text):
            for k in range(tokens[span.start].start, tokens[span.end - 1].end):
                covered[k] = True
        for s, e, kind in entities:
            total[kind] += 1
            if all(covered[k] for k in range(s, e) if text[k].isalnum()):
                found[kind] += 1
        for tok in tokens:
            if tok.kind == "punct" or any(s <= tok.start < e for s, e, _ in entities):
                continue
            clean_tokens += 1
            over += covered[tok.start]
    recall = {k: (round(found[k] / total[k], 3) if total[k] else None) for k in TYPES}
    return {"recall": recall, "entities": total, "found": found,
            "over_redacted_tokens": over, "clean_tokens": clean_tokens,
            "over_redaction_rate": round(over / clean_tokens, 4) if clean_tokens else 0.0}


def report(redactor: Redactor | None = None) -> dict:
    redactor = redactor or Redactor()
    written = load("redaction_written.txt")
    return {
        "written": evaluate(redactor, written),
        "written_lower_no_punct": evaluate(redactor, [flatten(t, e) for t, e in written]),
        "asr_style": evaluate(redactor, load("redaction_asr.txt")),
    }


if __name__ == "__main__":
    import json

    for use_ner in (True, False):
        print("with natasha NER" if use_ner else "rules + dictionary only")
        print(json.dumps(report(Redactor(use_ner=use_ner)), ensure_ascii=False, indent=1))

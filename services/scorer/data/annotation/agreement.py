"""Agreement of the second annotation with the writers' labels (README.md in this folder says how it was made).

    .venv/bin/python services/scorer/data/annotation/agreement.py

The writers' labels are the corpus files', the second annotator's are second_annotator.jsonl (calls) and
second_annotator_utterances.jsonl (single utterances), the adjudicated ones are the writers' with
../corpus/adjudication.jsonl applied. Prints Cohen's kappa per code (for calls per segment of the code's
speaker and per call: does the call have it anywhere), and, for calls, each annotator's critical flags
(from the protocol's own criteria, helpline_scorer.criteria) against the other's and the adjudicated labels.
"""

import json
from pathlib import Path

from helpline_scorer.corpus import load_corpus
from helpline_scorer.criteria import evaluate_call
from helpline_scorer.protocol import load_protocol

HERE = Path(__file__).resolve().parent
CODES = {"risk_cue": "caller", "risk_question": "counselor", "judgment": "counselor"}


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def kappa(pairs: list[tuple[bool, bool]]) -> float:
    n = len(pairs)
    observed = sum(a == b for a, b in pairs) / n
    pa, pb = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    chance = pa * pb + (1 - pa) * (1 - pb)
    return (observed - chance) / (1 - chance) if chance < 1 else 1.0


def calls_agreement(corpus: Path, disputed: list[dict]) -> None:
    calls = {c["call_id"]: c for p in sorted(corpus.glob("*_calls.jsonl")) for c in _jsonl(p)}
    second = {r["call_id"]: {code: set(r[code]) for code in CODES} for r in _jsonl(HERE / "second_annotator.jsonl")}
    decisions = [r for r in disputed if "call_id" in r]
    disputed = [r for r in decisions if r["writer"] != r["second"]]  # not the death-talk review's
    writer = {cid: {code: {i for i, s in enumerate(calls[cid]["segments"]) if code in s["codes"]} for code in CODES}
              for cid in second}
    print(f"calls: {len(second)} annotated twice; {len(disputed)} disputed items, "
          f"{sum(r['final'] != r['writer'] for r in disputed)} writer labels changed (after the review below)")
    for code, speaker in CODES.items():
        segment_pairs = [(i in writer[cid][code], i in second[cid][code]) for cid in second
                         for i, s in enumerate(calls[cid]["segments"]) if s["speaker"] == speaker]
        call_pairs = [(bool(writer[cid][code]), bool(second[cid][code])) for cid in second]
        print(f"  {code:14s} kappa per segment {kappa(segment_pairs):.3f}, per call {kappa(call_pairs):.3f}")
    final = {cid: {code: set(labels) for code, labels in w.items()} for cid, w in writer.items()}
    for r in decisions:  # where neither disputed nor reviewed, both said the same
        (final[r["call_id"]][r["code"]].add if r["final"] else final[r["call_id"]][r["code"]].discard)(r["segment"])
    protocol = load_protocol()
    # the calls' segments and timings; the codes are each reader's
    loaded = {c.call_id: c.call for c in load_corpus(corpus, protocol).calls}

    def flags(cid: str, labels: dict[str, set[int]]) -> set[str]:
        codes = [{code for code, where in labels.items() if i in where} for i in range(len(calls[cid]["segments"]))]
        return set(evaluate_call(protocol, loaded[cid], codes).critical)

    for name, got, gold in (("the second annotator", second, writer), ("the writers", writer, final),
                            ("the second annotator", second, final)):
        tp = fp = fn = 0
        for cid in second:
            g, a = flags(cid, gold[cid]), flags(cid, got[cid])
            tp, fp, fn = tp + len(g & a), fp + len(a - g), fn + len(g - a)
        against = "the writers'" if gold is writer else "the adjudicated"
        print(f"  flags of {name} against {against}: recall {tp / (tp + fn):.3f}, "
              f"precision {tp / (tp + fp):.3f} ({tp} shared, {fp} extra, {fn} missed)")


def utterances_agreement(corpus: Path, disputed: list[dict]) -> None:
    writer = {f"{p.name.split('_')[0]}-u{n}": json.loads(line)
              for p in sorted(corpus.glob("*_utterances.jsonl"))
              for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1) if line.strip()}
    second = {r["utterance"]: set(r["codes"]) for r in _jsonl(HERE / "second_annotator_utterances.jsonl")}
    disputed = [r for r in disputed if "utterance" in r and r["writer"] != r["second"]]
    print(f"single utterances: {len(second)} annotated twice; {len(disputed)} disputed items, "
          f"{sum(r['final'] != r['writer'] for r in disputed)} writer labels changed (after the review below)")
    for code, speaker in CODES.items():
        pairs = [(code in u["codes"], code in second[uid]) for uid, u in writer.items() if u["speaker"] == speaker]
        print(f"  {code:14s} kappa {kappa(pairs):.3f}")


def main() -> None:
    corpus = HERE.parent / "corpus"
    decisions = _jsonl(corpus / "adjudication.jsonl")
    calls_agreement(corpus, decisions)
    utterances_agreement(corpus, decisions)
    reviewed = [r for r in decisions if "review" in r]
    print(f"death-talk review: {len(reviewed)} decisions changed")


if __name__ == "__main__":
    main()

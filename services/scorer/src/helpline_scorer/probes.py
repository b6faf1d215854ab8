"""A model's critical flags on caller lines written after every model here was trained (data/probes).

Each line is put in the same short call, in which the counselor asks no risk question, so the call must be
flagged (`missed_risk_assessment`) exactly when the line is a cue. Three views of each line: as written,
played down inside a reassuring frame (the annotation guide counts a cue said as a joke or taken back), and
ASR-noised. The lines are never training data: the corpus loader does not read this folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.metrics import roc_auc_score

from helpline_scorer.asr_noise import noisy
from helpline_scorer.corpus import DEFAULT_CORPUS
from helpline_scorer.scoring import Scorer
from helpline_scorer.transcript import CALLER, COUNSELOR, Call, make_call

DEFAULT_PROBES = DEFAULT_CORPUS.parent / "probes" / "fresh_caller_lines.jsonl"
LINE_INDEX = 3  # the probed line's segment in the call below
CALL = ((COUNSELOR, "Детский телефон доверия, здравствуйте."), (CALLER, "Здравствуйте. Я не знаю, с чего начать."),
        (COUNSELOR, "Расскажи, что случилось?"), (CALLER, None),
        (COUNSELOR, "Понимаю, тебе очень тяжело. Кому ты доверяешь?"), (CALLER, "Не знаю даже."),
        (COUNSELOR, "Звони нам в любое время, мы рядом."))
PLAYED_DOWN = "Да нормально всё. {} А так нормально."
NOISE_SEED = 5


def load_lines(path: Path = DEFAULT_PROBES) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def probe_call(text: str, call_id: str) -> Call:
    return make_call(call_id, [(speaker, 3.0 * i, 3.0 * i + 2.5, line or text)
                               for i, (speaker, line) in enumerate(CALL)])


def views(line: dict) -> dict[str, str]:
    return {"plain": line["text"], "played_down": PLAYED_DOWN.format(line["text"]),
            "noised": noisy(line["text"], NOISE_SEED, f"probe:{line['id']}")}


def run(scorer: Scorer, lines: list[dict]) -> dict:
    """Per view: cues flagged, non-cues flagged (false alarms), the segment-level AUC of `risk_cue`, and the
    ids of the cues missed."""
    out = {}
    texts = [views(line) for line in lines]  # the noised text once per line, not once per view
    for view in ("plain", "played_down", "noised"):
        flagged, probs = [], []
        for line, text in zip(lines, texts, strict=True):
            result = scorer.score(probe_call(text[view], f"probe-{line['id']}"))
            flagged.append("missed_risk_assessment" in result.critical)
            probs.append(result.segments[LINE_INDEX].probabilities.get("risk_cue", 0.0))
        cues = [line["cue"] for line in lines]
        out[view] = {
            "cues_flagged": sum(f for f, c in zip(flagged, cues, strict=True) if c), "cues": sum(cues),
            "non_cues_flagged": sum(f for f, c in zip(flagged, cues, strict=True) if not c),
            "non_cues": len(cues) - sum(cues),
            "segment_auc": round(float(roc_auc_score(cues, probs)), 4),
            "missed": [line["id"] for line, f in zip(lines, flagged, strict=True) if line["cue"] and not f],
        }
    return out

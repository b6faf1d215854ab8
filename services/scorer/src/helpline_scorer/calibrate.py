"""Calibration with people: agreement between the model and supervisors' reviews.

Reviews are stored by the gateway at reviews/{region}/{call_id}/{review_id}.json: the fields of
helpline.gateway.v1.SubmitReviewRequest (audit_id, call_id, judgements [{criterion_id, outcome}], score)
plus region and reviewer. For each review the call's transcript is found through the audit
(audits/{audit_id}/calls/{call_id}.json → recording sha256 → transcripts/{sha256}/*.json), scored again
with the model under test, and compared: Cohen's κ per criterion over met / not met / not applicable,
and the correlation of the model's score with the reviewer's.

Reviewed calls can go back into training: `export` writes them in the corpus format (FORMAT.md) with the
model's codes when the reviewer agreed with the model on every criterion (confirmed), and lists the
others as needing a person to code them. A confirmed file dropped into data/corpus as `r<n>_calls.jsonl`
is read by the loader like any author's calls.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import cohen_kappa_score

from helpline_common.errors import HelplineError
from helpline_common.storage import ObjectStore
from helpline_scorer.criteria import MET, NOT_APPLICABLE, NOT_MET
from helpline_scorer.protocol import load_protocol
from helpline_scorer.registry import LoadedModel
from helpline_scorer.scoring import Scorer
from helpline_scorer.transcript import call_from_json

log = logging.getLogger(__name__)

_OUTCOMES = {"CRITERION_OUTCOME_MET": MET, "CRITERION_OUTCOME_NOT_MET": NOT_MET,
             "CRITERION_OUTCOME_NOT_APPLICABLE": NOT_APPLICABLE, 1: MET, 2: NOT_MET, 3: NOT_APPLICABLE,
             MET: MET, NOT_MET: NOT_MET, NOT_APPLICABLE: NOT_APPLICABLE}


def _get(d: dict, *names, default=None):
    for n in names:
        if n in d:
            return d[n]
    return default


def find_transcript(store: ObjectStore, audit_id: str, call_id: str) -> dict:
    call = store.get_json(f"audits/{audit_id}/calls/{call_id}.json")
    recording = _get(call, "recording", default={}) or {}
    sha = _get(recording, "sha256") or _get(call, "recording_sha256", "recordingSha256")
    if not sha:
        raise LookupError("no recording hash in the audit call")
    keys = sorted(k for k in store.list_keys(f"transcripts/{sha}/") if k.endswith(".json"))
    if not keys:
        raise LookupError("no stored transcript")
    data = store.get_json(keys[-1])
    return _get(data, "transcript", default=data) if "segments" not in data else data


def run(store: ObjectStore, loaded: LoadedModel, region: str | None = None, export: Path | None = None) -> dict:
    protocol = load_protocol()
    prefix = f"reviews/{region}/" if region else "reviews/"
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    scores: list[tuple[float, float]] = []
    skipped: dict[str, int] = defaultdict(int)
    confirmed, to_code = [], []
    reviews = [k for k in store.list_keys(prefix) if k.endswith(".json")]
    for key in reviews:
        try:
            review = store.get_json(key)
            audit_id, call_id = _get(review, "audit_id", "auditId"), _get(review, "call_id", "callId")
            call = call_from_json(find_transcript(store, audit_id, call_id))
        except (HelplineError, LookupError, ValueError, KeyError, TypeError) as exc:
            skipped[type(exc).__name__] += 1
            continue
        result = Scorer(loaded, protocol).score(call)
        model_outcomes = result.outcomes()
        agree = True
        for j in _get(review, "judgements", default=[]) or []:
            cid = _get(j, "criterion_id", "criterionId")
            human = _OUTCOMES.get(_get(j, "outcome"))
            if cid in model_outcomes and human is not None:
                pairs[cid].append((human, model_outcomes[cid]))
                agree &= human == model_outcomes[cid]
        if _get(review, "score") is not None:
            scores.append((float(review["score"]), result.score))
        if export is not None:
            line = {"call_id": f"review-{call_id}", "source": "supervisor review", "review_key": key,
                    "segments": [{"speaker": s.speaker, "text": s.text, "codes": sorted(r.codes)}
                                 for s, r in zip(call.segments, result.segments, strict=True)]}
            (confirmed if agree else to_code).append(line)
    per_criterion = {}
    for cid, pr in sorted(pairs.items()):
        human, model = zip(*pr, strict=True)
        kappa = cohen_kappa_score(human, model) if len(set(human) | set(model)) > 1 else 1.0
        per_criterion[cid] = {"n": len(pr), "agreement": round(float(np.mean([a == b for a, b in pr])), 4),
                              "kappa": round(float(kappa), 4) if not np.isnan(kappa) else None}
    report: dict = {"model_version": loaded.version, "reviews": len(reviews),
                    "scored": len(reviews) - sum(skipped.values()), "skipped": dict(skipped),
                    "per_criterion": per_criterion}
    if len(scores) >= 3:
        h, m = np.array(scores).T
        constant = np.ptp(h) == 0 or np.ptp(m) == 0  # a correlation is undefined then
        report["score"] = {"n": len(scores), "mae": round(float(np.mean(np.abs(h - m))), 2),
                           "pearson": None if constant else round(float(pearsonr(h, m)[0]), 4),
                           "spearman": None if constant else round(float(spearmanr(h, m)[0]), 4)}
    if export is not None:
        export.parent.mkdir(parents=True, exist_ok=True)
        export.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in confirmed), encoding="utf-8")
        report["exported"] = {"confirmed": len(confirmed), "file": str(export),
                              "need_coding": [c["review_key"] for c in to_code]}
    return report

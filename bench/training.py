"""Training benchmark: the evaluation's model fits (training.fit_each) in one process and in one process per
core, on the same splits in the same run; the ratio is the speed-up `helpline-qa scorer train/evaluate --jobs`
gets. Writes bench/results/training.json.

Splits: four folds of the first 120 corpus calls with their authors' single utterances (each fit sees 90
calls), the production TrainConfig. A ratio near 1 on a 2-core machine means the workers fight over the
cores (e.g. each BLAS library starting a thread per core: measured 13x slower before fit_each limited them).
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "training.json"
N_CALLS = 120
N_SPLITS = 4


def _splits():
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.protocol import load_protocol

    protocol = load_protocol()
    corpus = load_corpus(None, protocol)
    calls = corpus.calls[:N_CALLS]
    authors = {c.author for c in calls}
    utterances = [u for u in corpus.utterances if u.author in authors]
    splits = [([c for i, c in enumerate(calls) if i % N_SPLITS != k],
               [u for i, u in enumerate(utterances) if i % N_SPLITS != k]) for k in range(N_SPLITS)]
    return protocol, splits


def _timed(protocol, splits, cfg, jobs: int) -> float:
    from helpline_scorer import training

    start = time.perf_counter()
    for _ in training.fit_each(protocol, splits, cfg, jobs):
        pass
    return time.perf_counter() - start


def main() -> None:
    from helpline_scorer import training

    protocol, splits = _splits()
    cfg = training.TrainConfig()
    jobs = os.cpu_count() or 1
    # Both start cold (lemma and lexicon caches are per process), as `train --jobs 1` and `--jobs N` do.
    one = _timed(protocol, splits, cfg, 1)
    many = _timed(protocol, splits, cfg, jobs)
    result = {
        "splits": len(splits), "calls_per_fit": len(splits[0][0]), "jobs": jobs,
        "seconds_one_process": round(one, 1), "seconds_parallel": round(many, 1),
        "speedup": round(one / many, 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

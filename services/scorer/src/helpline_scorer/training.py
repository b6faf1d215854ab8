"""Training and evaluation: grouped cross-validation by call, leave-one-author-out, clean and
ASR-noised text, and the model card.

A call is never split between training and test. Held-out single utterances are evaluated per code;
held-out calls are evaluated per code, per criterion, by score, band and critical flags. Every figure
of the card is computed on text (and calls) the fitted model never saw.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.model_selection import GroupKFold
from threadpoolctl import threadpool_limits

from helpline_scorer.asr_noise import noisy
from helpline_scorer.corpus import Corpus, CorpusCall, Utterance
from helpline_scorer.criteria import critical_flags, evaluate_call
from helpline_scorer.model import SAFETY_CODES, Example, Featurizer, UtteranceModel, call_score, examples_from_call
from helpline_scorer.protocol import Protocol
from helpline_scorer.transcript import CALLER, COUNSELOR

log = logging.getLogger(__name__)

TRAIN_NOISE_KEY = "train"
EVAL_NOISE_KEY = "eval"


@dataclass
class TrainConfig:
    C: float = 4.0
    folds: int = 5  # outer, grouped by call
    inner_folds: int = 4  # for calibration and thresholds
    noise_seed: int = 13
    noisy_copies: int = 1  # ASR-noised copies of every training text, besides the clean one
    recall_targets: dict[str, float] = field(default_factory=dict)  # utterance-level, before call tuning
    tune_on_calls: bool = True
    miss_penalty: float = 12.0  # criteria-right units lost per missed critical flag while tuning
    safety_margin: float = 0.7  # the safety codes' tuned thresholds are multiplied by this
    call_level: bool = True  # decide risk_cue / judgment per call (noisy-OR of the top-k segments)
    call_ks: tuple[int, ...] = (1, 2, 3)  # candidate k, chosen on the training calls
    call_margin: float = 0.8  # the call threshold for recall 1.0 on the training calls is multiplied by this
    seed: int = 7
    features: dict = field(default_factory=dict)  # Featurizer keyword arguments (weights of the blocks)


def utterance_example(u: Utterance, text: str | None = None) -> Example:
    return Example(u.speaker, u.text if text is None else text, u.context, None, u.codes, u.uid, u.author)


def call_texts(call: CorpusCall, noise: str | None, seed: int) -> list[str]:
    if noise is None:
        return [s.text for s in call.call.segments]
    return [noisy(s.text, seed, f"{noise}:{call.call_id}:{s.index}") for s in call.call.segments]


def training_examples(calls: Sequence[CorpusCall], utterances: Sequence[Utterance], cfg: TrainConfig) -> list[Example]:
    """Clean call segments first (call after call, in order), then their noisy copies, then utterances."""
    out: list[Example] = []
    for c in calls:
        out += examples_from_call(c.call, c.codes, c.author)
    for c in calls:
        for k in range(cfg.noisy_copies):
            out += examples_from_call(c.call, c.codes, c.author, call_texts(c, f"{TRAIN_NOISE_KEY}{k}", cfg.noise_seed))
    for u in utterances:
        out.append(utterance_example(u))
        for k in range(cfg.noisy_copies):
            out.append(utterance_example(u, noisy(u.text, cfg.noise_seed, f"{TRAIN_NOISE_KEY}{k}:{u.uid}")))
    return out


def fit(protocol: Protocol, calls: Sequence[CorpusCall], utterances: Sequence[Utterance],
        cfg: TrainConfig) -> UtteranceModel:
    model = UtteranceModel(list(protocol.counselor_codes), list(protocol.caller_codes),
                           featurizer=Featurizer(**cfg.features))
    model.fit(training_examples(calls, utterances, cfg), C=cfg.C, folds=cfg.inner_folds,
              recall_targets=cfg.recall_targets)
    if cfg.inner_folds > 1 and calls:
        oof, offset = [], 0
        for c in calls:
            oof.append([model.oof_probabilities(offset + s.index) for s in c.call.segments])
            offset += len(c.call.segments)
        noisy_oof = []
        for c in calls:
            for _ in range(cfg.noisy_copies):
                noisy_oof.append([model.oof_probabilities(offset + s.index) for s in c.call.segments])
                offset += len(c.call.segments)
        views = [(c, p) for c, p in zip(calls, oof, strict=True)]
        views += [(c, p) for c, p in zip([c for c in calls for _ in range(cfg.noisy_copies)], noisy_oof,
                                         strict=True)]
        if cfg.call_level:
            tune_call_level(model, views, cfg)
        if cfg.tune_on_calls:
            tune_thresholds(model, protocol, calls, oof, cfg)
        if cfg.call_level:
            tune_review_thresholds(model, views, cfg)
    model.drop_training_state()
    return model


Split = tuple[Sequence[CorpusCall], Sequence[Utterance]]  # the calls and single utterances to train on


def _fit_split(job: tuple[Protocol, Split, TrainConfig]) -> UtteranceModel:
    protocol, (calls, utterances), cfg = job
    return fit(protocol, calls, utterances, cfg)


def _one_blas_thread() -> None:
    # Measured: two workers with the BLAS libraries' default threads (one per core each) fitted 13x slower
    # than one worker alone, fighting over the cores; with one thread each, both at full speed.
    threadpool_limits(1)


def fit_each(protocol: Protocol, splits: Sequence[Split], cfg: TrainConfig, jobs: int = 1) -> Iterator[UtteranceModel]:
    """One model per split, yielded in order; with `jobs` > 1, that many processes fit at once, one BLAS
    thread each (a fit is mostly single-threaded liblinear: one process per core divides the time by the
    cores)."""
    if jobs <= 1 or len(splits) <= 1:
        for calls, utterances in splits:
            yield fit(protocol, calls, utterances, cfg)
        return
    # spawn, not fork: the calling process may hold gRPC or logging threads that fork would copy mid-state
    with ProcessPoolExecutor(max_workers=min(jobs, len(splits)), mp_context=multiprocessing.get_context("spawn"),
                             initializer=_one_blas_thread) as pool:
        yield from pool.map(_fit_split, [(protocol, split, cfg) for split in splits])


CALL_LEVEL_CODES = {"risk_cue": CALLER, "judgment": COUNSELOR}
# Counselor codes that clear a critical flag, with the cue they answer: in the review view they count only
# when the model is sure of them, so a doubtful risk question never hides a missed risk assessment.
FLAG_CLEARING_CODES = {"risk_question": "risk_cue"}
# ...and never below this: only a question the model is fairly sure of clears a flag. (Set from the training
# calls alone, the guard fell to 0.35 in v1.4.0, and a poor counselor's remark at 0.38 hid a missed risk
# assessment on ASR-noised text; with a floor of 0.5, a fact question in a grooming call, «Ты его вживую видела
# когда-нибудь?», scored 0.66–0.75 as a risk question (0.93 by v1.6.0) and hid one on 376 calls. At 0.8 the CV caught
# it with no more false alarms; on the 328-call CV it cost 12 more missed-risk false alarms (88 → 100).)
CLEARING_FLOOR = 0.8


def tune_call_level(model: UtteranceModel, views: Sequence[tuple[CorpusCall, Sequence[dict[str, float]]]],
                    cfg: TrainConfig) -> None:
    """Per call-level code, on the training calls' out-of-fold views (clean and ASR-noised), two thresholds
    on the noisy-OR of the top-k segment probabilities (model.py says why two):
    - `review_threshold`: keeps every training call carrying the code positive, times `call_margin` for
      calls never seen; k is the one with the fewest false-positive training calls at that threshold;
    - `threshold`: the most accurate one for the same k (fewest calls wrong either way), never below the
      review threshold's."""
    model.call_level = {}
    for code, speaker in CALL_LEVEL_CODES.items():
        scored = {k: ([], []) for k in cfg.call_ks}  # k: (positive scores, negative scores)
        for c, probs in views:
            segs = [s for s in c.call.segments if s.speaker == speaker]
            ps = [probs[s.index].get(code, 0.0) for s in segs]
            if not ps:
                continue
            gold = any(code in c.codes[s.index] for s in segs)
            for k in cfg.call_ks:
                scored[k][0 if gold else 1].append(call_score(ps, k))
        best = None
        for k in cfg.call_ks:
            pos, neg = scored[k]
            if not pos:
                continue
            threshold = min(pos) * cfg.call_margin
            false_pos = sum(v >= threshold for v in neg)
            if best is None or false_pos < best[0]:
                best = (false_pos, k, threshold)
        if best is None:
            continue
        false_pos, k, review_threshold = best
        pos, neg = scored[k]
        model.call_level[code] = {"speaker": speaker, "k": k,
                                  "threshold": round(float(max(review_threshold, _most_accurate(pos, neg))), 5),
                                  "review_threshold": round(float(review_threshold), 5),
                                  "training_false_positive_calls": int(false_pos),
                                  "training_negative_calls": len(neg)}


def _most_accurate(pos: Sequence[float], neg: Sequence[float]) -> float:
    """The threshold with the fewest scores on the wrong side (midpoint between neighbouring scores)."""
    values = np.unique(np.asarray([*pos, *neg]))
    candidates = [values[0], *((values[1:] + values[:-1]) / 2), values[-1] + 1e-6]
    pos_a, neg_a = np.asarray(pos), np.asarray(neg)
    errors = [int(np.sum(pos_a < t) + np.sum(neg_a >= t)) for t in candidates]
    return float(candidates[int(np.argmin(errors))])


def tune_review_thresholds(model: UtteranceModel, views: Sequence[tuple[CorpusCall, Sequence[dict[str, float]]]],
                           cfg: TrainConfig) -> None:
    """Per flag-clearing code: the review threshold above every out-of-fold probability of the code in the
    training calls where a false one would hide a flag — a cue and no risk question (clean and ASR-noised
    views) — moved by `call_margin` towards 1 for calls never seen; never below the decision threshold
    nor CLEARING_FLOOR.
    (Taken over all calls without the code instead, the same held-out flags were caught with 9 more false
    alarms per 95 flags.)"""
    model.review_thresholds = {}
    for code, cue in FLAG_CLEARING_CODES.items():
        highest = [max((probs[s.index].get(code, 0.0) for s in c.call.segments if s.speaker == COUNSELOR),
                       default=0.0)
                   for c, probs in views
                   if any(cue in codes for codes in c.codes) and not any(code in codes for codes in c.codes)]
        if not highest:
            continue
        threshold = 1.0 - (1.0 - max(highest)) * cfg.call_margin
        model.review_thresholds[code] = round(max(threshold, model.counselor.thresholds[code],
                                                  CLEARING_FLOOR), 5)


THRESHOLD_GRID = (0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65,
                  0.7, 0.75, 0.8, 0.85, 0.9)


def tune_thresholds(model: UtteranceModel, protocol: Protocol, calls: Sequence[CorpusCall],
                    oof: Sequence[Sequence[dict[str, float]]], cfg: TrainConfig) -> None:
    """Choose each code's threshold for what matters, the call: coordinate ascent on the training calls'
    out-of-fold probabilities, maximising criteria right minus `miss_penalty` per missed critical flag.
    The safety codes' thresholds are then lowered by `safety_margin`, since recall on unseen calls is
    what the thresholds must protect."""
    gold = [evaluate_call(protocol, c.call, c.codes) for c in calls]
    gold_outcomes = [g.outcomes() for g in gold]
    thresholds = {COUNSELOR: dict(model.counselor.thresholds), CALLER: dict(model.caller.thresholds)}
    examples = [examples_from_call(c.call) for c in calls]
    call_codes = set(model.call_level)

    def objective() -> float:
        value = 0.0
        for c, probs, g, go, ex in zip(calls, oof, gold, gold_outcomes, examples, strict=True):
            pred = [model.decide(p, s.speaker, thresholds[s.speaker]) for s, p in zip(c.call.segments, probs,
                                                                                        strict=True)]
            if call_codes:
                pred = model.apply_call_level(ex, pred, probs)
            result = evaluate_call(protocol, c.call, pred, review_codes=model.review_codes(ex, pred, probs))
            outcomes = result.outcomes()
            value += sum(go[k] == outcomes[k] for k in go)
            value -= cfg.miss_penalty * len(set(g.critical) - set(result.critical))
        return value

    best = objective()
    for _ in range(2):
        for speaker in (CALLER, COUNSELOR):
            for code in list(thresholds[speaker]):
                if code in call_codes:  # decided per call; the utterance threshold only picks evidence
                    continue
                current = thresholds[speaker][code]
                for t in THRESHOLD_GRID:
                    thresholds[speaker][code] = t
                    value = objective()
                    if value > best:
                        best, current = value, t
                thresholds[speaker][code] = current
    for speaker, clf in ((COUNSELOR, model.counselor), (CALLER, model.caller)):
        for code, t in thresholds[speaker].items():
            margin = cfg.safety_margin if code in SAFETY_CODES and code not in call_codes else 1.0
            clf.thresholds[code] = t * margin


# -- metrics ---------------------------------------------------------------------------------------

REVIEW_FACTORS = (1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0)


def _count_flags(counts: list[int], gold: set[str], raised: set[str]) -> None:
    """Add one call's flags to [true positives, false positives, false negatives]."""
    counts[0] += len(gold & raised)
    counts[1] += len(raised - gold)
    counts[2] += len(gold - raised)


def flags_by_factor(protocol: Protocol, model: UtteranceModel, call: CorpusCall, examples: Sequence[Example],
                    pred: Sequence[frozenset[str]], probs: Sequence[dict[str, float]]) -> dict[float, set[str]]:
    """The critical flags one call raises with the review thresholds × each of REVIEW_FACTORS."""
    return {factor: set(evaluate_call(protocol, call.call, pred, probs,
                                      review_codes=model.review_codes(examples, pred, probs,
                                                                      review_factor=factor)).critical)
            for factor in REVIEW_FACTORS}


class FlagCurve:
    """Critical flags on held-out calls with the review thresholds × each factor (capped at the most
    accurate thresholds): the operating points a protocol's `flags.review_threshold_factor` chooses from."""

    def __init__(self):
        self.counts = {f: [0, 0, 0] for f in REVIEW_FACTORS}  # tp, fp, fn over (call, flag)

    def add(self, flags: dict[float, set[str]], gold: set[str]) -> None:
        """`flags`: one call's, from flags_by_factor; `gold`: its critical flags from its gold codes."""
        for factor, counts in self.counts.items():
            _count_flags(counts, gold, flags[factor])

    def summary(self) -> list[dict]:
        return [{"factor": f, "recall": round(tp / (tp + fn), 4) if tp + fn else None,
                 "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                 "true_positive": tp, "false_positive": fp, "false_negative": fn}
                for f, (tp, fp, fn) in self.counts.items()]


class Tally:
    """Accumulates held-out predictions and turns them into the card's metrics."""

    def __init__(self, protocol: Protocol):
        self.protocol = protocol
        self.code_counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
        self.criteria: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # correct, total
        self.scores: list[tuple[float, float]] = []
        self.bands: list[tuple[str, str]] = []
        self.flags = [0, 0, 0]  # tp, fp, fn over (call, flag)
        # The flags whose critical criterion fails on the most probable reading (the "likely" ones of a
        # supervisor's review list); the others come from the recall-first review view only.
        self.likely_flags = [0, 0, 0]
        self.calls = 0
        self.brier: dict[str, list[float]] = defaultdict(list)
        self.flag_curve = FlagCurve()

    def add_codes(self, gold: Sequence[frozenset[str]], pred: Sequence[frozenset[str]],
                  probs: Sequence[dict[str, float]]) -> None:
        for g, p, pr in zip(gold, pred, probs, strict=True):
            for code in pr:
                tp, fp, fn = code in g and code in p, code in p and code not in g, code in g and code not in p
                counts = self.code_counts[code]
                counts[0] += tp
                counts[1] += fp
                counts[2] += fn
                self.brier[code].append((pr[code] - (code in g)) ** 2)

    def add_call(self, call: CorpusCall, pred: Sequence[frozenset[str]], probs: Sequence[dict[str, float]],
                 review: Sequence[frozenset[str]]) -> dict:
        gold_result = evaluate_call(self.protocol, call.call, call.codes)
        pred_result = evaluate_call(self.protocol, call.call, pred, probs, review_codes=review)
        self.add_codes(call.codes, pred, probs)
        gold_o, pred_o = gold_result.outcomes(), pred_result.outcomes()
        for cid, outcome in gold_o.items():
            self.criteria[cid][0] += outcome == pred_o[cid]
            self.criteria[cid][1] += 1
        self.scores.append((gold_result.score, pred_result.score))
        self.bands.append((gold_result.band, pred_result.band))
        g, p = set(gold_result.critical), set(pred_result.critical)
        likely = set(critical_flags(pred_result.criteria))
        _count_flags(self.flags, g, p)
        _count_flags(self.likely_flags, g, likely)
        self.calls += 1
        return {"call_id": call.call_id, "gold_score": gold_result.score, "score": pred_result.score,
                "gold_band": gold_result.band, "band": pred_result.band,
                "gold_flags": sorted(g), "flags": sorted(p), "likely_flags": sorted(likely),
                "criteria_wrong": sorted(c for c in gold_o if gold_o[c] != pred_o[c])}

    def summary(self) -> dict:
        per_code = {}
        for code, (tp, fp, fn) in sorted(self.code_counts.items()):
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_code[code] = {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
                              "support": tp + fn, "brier": round(float(np.mean(self.brier[code])), 4)}
        counselor = [v["f1"] for c, v in per_code.items() if c in self.protocol.counselor_codes and v["support"]]
        out: dict = {"per_code": per_code, "code_macro_f1": round(float(np.mean(counselor)), 3) if counselor else None}
        if self.calls:
            correct = sum(v[0] for v in self.criteria.values())
            total = sum(v[1] for v in self.criteria.values())
            out |= {
                "calls": self.calls,
                "criterion_accuracy": round(correct / total, 4),
                "per_criterion_accuracy": {c: round(v[0] / v[1], 3) for c, v in self.criteria.items()},
                "score_mae": round(float(np.mean([abs(a - b) for a, b in self.scores])), 2),
                "band_accuracy": round(float(np.mean([a == b for a, b in self.bands])), 4),
                **_flag_metrics("critical", *self.flags),
                **_flag_metrics("likely", *self.likely_flags),
            }
            if any(sum(c) for c in self.flag_curve.counts.values()):
                out["flag_operating_points"] = self.flag_curve.summary()
        return out


def _flag_metrics(name: str, tp: int, fp: int, fn: int) -> dict:
    """Recall and precision over (call, flag) pairs, e.g. `critical_flag_recall`, and the counts."""
    return {f"{name}_flag_recall": round(tp / (tp + fn), 4) if tp + fn else None,
            f"{name}_flag_precision": round(tp / (tp + fp), 4) if tp + fp else None,
            f"{name}_flags": {"true_positive": tp, "false_positive": fp, "false_negative": fn}}


Prediction = tuple[list[frozenset[str]], list[dict[str, float]], list[frozenset[str]]]  # codes, probs, review
# A held-out call's prediction with the flags it raises at each operating point (flags_by_factor)
HeldOut = tuple[Prediction, dict[float, set[str]]]


def held_out_view(call: CorpusCall, view: str, cfg: TrainConfig) -> CorpusCall:
    """The call with its clean or ASR-noised ('noised') text: what the model reads, and what the protocol's
    always-review words read after it, as they read a recognised call in service."""
    if view == "clean":
        return call
    segments = tuple(dataclasses.replace(s, text=t) for s, t in
                     zip(call.call.segments, call_texts(call, EVAL_NOISE_KEY, cfg.noise_seed), strict=True))
    return dataclasses.replace(call, call=dataclasses.replace(call.call, segments=segments))


def predict_held_out(model: UtteranceModel, protocol: Protocol, call: CorpusCall) -> HeldOut:
    """A held-out call (in its view, held_out_view) scored."""
    examples = examples_from_call(call.call, None, call.author)
    pred, probs = model.predict(examples)
    review = model.review_codes(examples, pred, probs)
    return (pred, probs, review), flags_by_factor(protocol, model, call, examples, pred, probs)


def _tally_held_out(tally: Tally, call: CorpusCall, held_out: HeldOut) -> dict:
    prediction, flags = held_out
    info = tally.add_call(call, *prediction)
    tally.flag_curve.add(flags, set(info["gold_flags"]))
    return info


def evaluate_model(model: UtteranceModel, protocol: Protocol, calls: Sequence[CorpusCall],
                   utterances: Sequence[Utterance], cfg: TrainConfig, tallies: dict[str, Tally],
                   details: list | None = None, predictions: dict | None = None) -> None:
    """Score held-out calls and utterances, clean and ASR-noised, into `tallies['clean'|'noised']`
    (and each call's prediction, with its flags at every operating point, into `predictions[(view, call_id)]`
    when given)."""
    for view in ("clean", "noised"):
        noise = None if view == "clean" else EVAL_NOISE_KEY
        for c in calls:
            held = held_out_view(c, view, cfg)
            held_out = predict_held_out(model, protocol, held)
            info = _tally_held_out(tallies[view], held, held_out)
            if predictions is not None:
                predictions[(view, c.call_id)] = held_out
            if details is not None and view == "clean":
                details.append(info)
        if utterances:
            examples = [utterance_example(u, None if noise is None else noisy(u.text, cfg.noise_seed,
                                                                              f"{EVAL_NOISE_KEY}:{u.uid}"))
                        for u in utterances]
            pred, probs = model.predict(examples)
            tallies[view].add_codes([u.codes for u in utterances], pred, probs)


def cross_validate(protocol: Protocol, corpus: Corpus, cfg: TrainConfig, predictions: dict | None = None,
                   jobs: int = 1) -> dict:
    """Grouped k-fold by call (single utterances are spread over the folds at random); every call's
    out-of-fold prediction goes into `predictions` when given (compare_on_unseen reads them). `jobs`:
    folds fitted at once (fit_each)."""
    tallies = {"clean": Tally(protocol), "noised": Tally(protocol)}
    calls, utts = corpus.calls, corpus.utterances
    n_folds = min(cfg.folds, len(calls))
    call_folds = np.zeros(len(calls), dtype=int)
    for k, (_, test) in enumerate(GroupKFold(n_splits=n_folds).split(calls, groups=[c.call_id for c in calls])):
        call_folds[test] = k
    utt_folds = np.random.default_rng(cfg.seed).integers(0, n_folds, len(utts))
    details: list = []
    splits = [([c for c, f in zip(calls, call_folds, strict=True) if f != k],
               [u for u, f in zip(utts, utt_folds, strict=True) if f != k]) for k in range(n_folds)]
    t0 = time.monotonic()
    for k, model in enumerate(fit_each(protocol, splits, cfg, jobs)):
        evaluate_model(model, protocol, [c for c, f in zip(calls, call_folds, strict=True) if f == k],
                       [u for u, f in zip(utts, utt_folds, strict=True) if f == k], cfg, tallies, details,
                       predictions)
        log.info("cv fold done", extra={"fold": k, "elapsed_s": round(time.monotonic() - t0, 1)})
    return {"folds": n_folds, "clean": tallies["clean"].summary(), "noised": tallies["noised"].summary(),
            "calls": details}


def leave_one_author_out(protocol: Protocol, corpus: Corpus, cfg: TrainConfig, jobs: int = 1) -> dict:
    """Train on every other author's calls and utterances, test on one author's: unseen voices. `jobs`:
    authors' models fitted at once (fit_each)."""
    authors = sorted({c.author for c in corpus.calls})
    out: dict = {}
    overall = {"clean": Tally(protocol), "noised": Tally(protocol)}
    if len(authors) < 2:
        return {"note": "fewer than two authors"}
    splits = [([c for c in corpus.calls if c.author != author], [u for u in corpus.utterances if u.author != author])
              for author in authors]
    for author, model in zip(authors, fit_each(protocol, splits, cfg, jobs), strict=True):
        tallies = {"clean": Tally(protocol), "noised": Tally(protocol)}
        held_calls = [c for c in corpus.calls if c.author == author]
        held_utts = [u for u in corpus.utterances if u.author == author]
        evaluate_model(model, protocol, held_calls, held_utts, cfg, tallies)
        evaluate_model(model, protocol, held_calls, held_utts, cfg, overall)
        out[author] = {"clean": _headline(tallies["clean"].summary()),
                       "noised": _headline(tallies["noised"].summary())}
    out["all"] = {"clean": overall["clean"].summary(), "noised": overall["noised"].summary()}
    return out


HEADLINE = {  # metric: True when higher is better
    "criterion_accuracy": True, "criterion_accuracy_noised": True, "band_accuracy": True,
    "score_mae": False, "critical_flag_recall": True, "critical_flag_precision": True,
    "critical_flag_recall_noised": True,
    "code_macro_f1": True, "code_macro_f1_noised": True, "loao_criterion_accuracy": True,
}


def _headline(s: dict) -> dict:
    return {k: s.get(k) for k in ("criterion_accuracy", "score_mae", "band_accuracy", "critical_flag_recall",
                                  "critical_flag_precision", "code_macro_f1")}


def headline_metrics(cv: dict, loao: dict | None) -> dict[str, float]:
    clean, noised = cv["clean"], cv["noised"]
    metrics = {
        "criterion_accuracy": clean.get("criterion_accuracy"),
        "criterion_accuracy_noised": noised.get("criterion_accuracy"),
        "band_accuracy": clean.get("band_accuracy"),
        "score_mae": clean.get("score_mae"),
        "critical_flag_recall": clean.get("critical_flag_recall"),
        "critical_flag_precision": clean.get("critical_flag_precision"),
        "critical_flag_recall_noised": noised.get("critical_flag_recall"),
        # the likely tier of the review list (Tally): reported beside the flags, not a promotion gate
        "likely_flag_recall": clean.get("likely_flag_recall"),
        "likely_flag_precision": clean.get("likely_flag_precision"),
        "code_macro_f1": clean.get("code_macro_f1"),
        "code_macro_f1_noised": noised.get("code_macro_f1"),
    }
    if loao and "all" in loao:
        metrics["loao_criterion_accuracy"] = loao["all"]["clean"].get("criterion_accuracy")
    return {k: float(v) for k, v in metrics.items() if v is not None}


def compare_on_unseen(protocol: Protocol, corpus: Corpus, cfg: TrainConfig, predictions: dict,
                      baseline: UtteranceModel, baseline_card: dict) -> dict | None:
    """Candidate and baseline on the same calls: those of `corpus` the baseline was never trained on.

    Two cards measured on different corpora do not compare (a harder corpus lowers every figure), so the
    promotion gate reads this instead: the candidate's out-of-fold predictions (`predictions`, from
    cross_validate) and the baseline's predictions on exactly the calls absent from the baseline's
    training corpus (the call ids of its card's grouped CV), with both models' flag operating points there
    (precision at matched recall: the gate itself compares each model at factor 1.0). None when the
    baseline's card lists no calls or every call was in its training.
    """
    seen = {c["call_id"] for c in baseline_card.get("evaluation", {}).get("grouped_cv_calls", [])}
    unseen = [c for c in corpus.calls if c.call_id not in seen]
    if not seen or not unseen:
        return None
    candidate = {"clean": Tally(protocol), "noised": Tally(protocol)}
    base = {"clean": Tally(protocol), "noised": Tally(protocol)}
    for view in ("clean", "noised"):
        for c in unseen:
            held = held_out_view(c, view, cfg)  # not `seen`: that name holds the baseline's training calls
            _tally_held_out(candidate[view], held, predictions[(view, c.call_id)])
            _tally_held_out(base[view], held, predict_held_out(baseline, protocol, held))
    summaries = {"candidate": {v: t.summary() for v, t in candidate.items()},
                 "baseline": {v: t.summary() for v, t in base.items()}}
    return {"against": baseline_card.get("version"), "against_sha256": baseline_card.get("sha256"),
            "calls": len(unseen), "authors": sorted({c.author for c in unseen}),
            "candidate": headline_metrics(summaries["candidate"], None),
            "baseline": headline_metrics(summaries["baseline"], None),
            "operating_points": {who: {v: s.get("flag_operating_points", []) for v, s in views.items()}
                                 for who, views in summaries.items()}}


def config_dict(cfg: TrainConfig) -> dict:
    return asdict(cfg)

"""The utterance model: which protocol codes each segment carries, with calibrated probabilities.

Features (all on ASR-like text, textnorm.asr_text, so clean and recognised text look alike):
- character n-grams (2–5, within words) of the text — robust to misrecognised endings and spellings;
- lemma uni- and bigrams (pymorphy3) of the text;
- lemmas of the other speaker's previous turn, for counselor codes (a reflection answers the caller);
- a risk lexicon (lexicon.py, risk_lexicon_ru.yaml): per PROTOCOL.md risk category, how many of its
  patterns the text matches — a cue said in words the corpus rarely uses still shares what the corpus
  taught about its category;
- for counselor codes, lemmas of the caller's NEXT turn (calls only): «да, именно так» after a reflection;
- for counselor codes, position: the counselor's first / second / last / second-to-last turn and relative
  position in the call (a greeting is near the start, a closing near the end); unknown for single utterances.
One logistic regression per code (balanced classes) — for the flags' codes (`risk_cue`, `judgment`) the
mean of two: one on these features, one on binary lemma 1–3-grams of the text weighted by their naive-Bayes
log-count ratio for the code (word sequences, where the character n-grams also match look-alikes) — then
Platt scaling fitted on cross-validated values, so the probabilities are calibrated; a decision threshold
per code is chosen on the same out-of-fold probabilities (F1-optimal, then tuned on the training calls,
training.py).
`risk_cue` and `judgment` are decided per call (`call_level`): the criteria only ask whether the call
has one anywhere, so the noisy-OR of the top-k segment probabilities is compared with call thresholds
set on the training calls' out-of-fold probabilities (training.tune_call_level). There are two, because
the two outputs cost different mistakes:
- `threshold`, the most accurate one, decides the codes the criteria, the score and the band are computed
  from — a counselor's score must not drop for a cue the model only half-suspects;
- `review_threshold`, the recall-first one (every training call with the code caught), decides the
  review codes the critical flags are computed from — a missed cue is the worst error, and a flag only
  puts the call on a supervisor's review list.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from helpline_scorer.lexicon import DEFAULT_LEXICON, Lexicon
from helpline_scorer.protocol import coding_conventions
from helpline_scorer.textnorm import asr_text, lemmas
from helpline_scorer.transcript import CALLER, COUNSELOR, Call

SAFETY_CODES = ("risk_cue", "judgment")


@dataclass(frozen=True)
class Example:
    speaker: str
    text: str
    context: str = ""
    position: tuple[int, int] | None = None  # (index among the speaker's turns, number of them)
    codes: frozenset[str] = frozenset()
    group: str = ""  # call id (or utterance id): folds never split a group
    author: str = ""
    next_context: str = ""  # the other speaker's next turn (calls only): a counselor's reaction to a cue


def examples_from_call(call: Call, codes: Sequence[frozenset[str]] | None = None, author: str = "",
                       texts: Sequence[str] | None = None) -> list[Example]:
    """One example per segment, with the other speaker's previous turn and the turn position.

    `texts` replaces the segment texts (e.g. their ASR-noise view) without changing anything else.
    """
    texts = texts if texts is not None else [s.text for s in call.segments]
    totals = {CALLER: 0, COUNSELOR: 0}
    for s in call.segments:
        totals[s.speaker] += 1
    seen = {CALLER: 0, COUNSELOR: 0}
    last_text = {CALLER: "", COUNSELOR: ""}
    next_text = [""] * len(call.segments)  # the other speaker's first segment after this one
    upcoming = {CALLER: "", COUNSELOR: ""}
    for s in reversed(call.segments):
        next_text[s.index] = upcoming[COUNSELOR if s.speaker == CALLER else CALLER]
        upcoming[s.speaker] = texts[s.index]
    out = []
    for s in call.segments:
        other = COUNSELOR if s.speaker == CALLER else CALLER
        out.append(Example(s.speaker, texts[s.index], last_text[other], (seen[s.speaker], totals[s.speaker]),
                           codes[s.index] if codes is not None else frozenset(), call.call_id, author,
                           next_text[s.index]))
        seen[s.speaker] += 1
        last_text[s.speaker] = texts[s.index]
    return out


def _position_features(examples: Sequence[Example], speakers: Sequence[str]) -> sp.csr_matrix:
    rows = []
    for e in examples:
        words = len(e.text.split())
        length = [math.log1p(words) / 3.0, float(words <= 3)]
        if e.speaker not in speakers:
            rows.append([0.0] * 10)  # the row width below: no position, no length
            continue
        if e.position is None:
            rows.append([1.0, 0, 0, 0, 0, 0, 0, 0, *length])
            continue
        k, n = e.position
        rel = k / (n - 1) if n > 1 else 0.0
        rows.append([0.0, float(k == 0), float(k == 1), float(k == n - 1), float(k == n - 2), rel,
                     float(rel <= 0.15), float(rel >= 0.85), *length])
    return sp.csr_matrix(np.asarray(rows, dtype=np.float64))


@dataclass(frozen=True)
class Features:
    """What the featurizer makes of examples: the main block, and the lemma n-grams the flags' codes' second
    model reads (None for featurizers without that view, as pickled before v1.6.0)."""

    main: sp.csr_matrix
    ngrams: sp.csr_matrix | None = None

    def __getitem__(self, rows) -> Features:
        return Features(self.main[rows], None if self.ngrams is None else self.ngrams[rows])

    @property
    def n_rows(self) -> int:
        return self.main.shape[0]


class Featurizer:
    """Text, context and position features; fitted on training examples only."""

    def __init__(self, max_char: int = 40_000, max_word: int = 20_000, max_context: int = 5_000,
                 context_weight: float = 0.5, keep_questions: bool = False, next_weight: float = 0.5,
                 position_speakers: Sequence[str] = (COUNSELOR,), next_speakers: Sequence[str] = (COUNSELOR,),
                 context_speakers: Sequence[str] = (COUNSELOR,), lexicon_weight: float = 1.0,
                 lexicon_speakers: Sequence[str] = (CALLER,), lexicon: str = DEFAULT_LEXICON,
                 ngram_view: bool = True, max_ngrams: int = 100_000):
        # The next turn only for the counselor's codes: a caller's cue is judged on what the caller said
        # (and was asked), never on how the counselor reacted — a cue a poor counselor ignores, exactly the
        # call the missed-risk flag exists for, would otherwise look less like a cue.
        self.next_speakers = tuple(next_speakers)
        # Position and length only for the counselor (a greeting opens, a closing ends the call). For the
        # caller they taught a prior, not a cue: "the caller's first turn is a hello" pushed a cue told in
        # the first breath («Здравствуйте. Я режу руки») below the threshold.
        self.position_speakers = tuple(position_speakers)
        # The previous turn only for the counselor's codes. For the caller it taught priors, not cues: the
        # counselor's greeting precedes nearly every caller's first turn, so «Здравствуйте. Мне очень плохо,
        # я больше не хочу жить» scored 0.54 after a greeting (0.88 without the block); held-out call-level
        # AUC of risk_cue 0.959 → 0.975 without it (232 calls). A cue said in answer to a risk question
        # needs no flag anyway: the question was asked.
        self.context_speakers = tuple(context_speakers)
        # The risk lexicon for the caller's cues only: on the counselor's side it made a reflection of a cue
        # («ты режешь себя») look like a risk question, which hid missed-risk flags.
        self.lexicon = Lexicon.load(lexicon) if lexicon_weight else None
        self.lexicon_weight = lexicon_weight
        self.lexicon_speakers = tuple(lexicon_speakers)
        self.char = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True,
                                    max_features=max_char, dtype=np.float32)
        self.word = TfidfVectorizer(token_pattern=r"\S+", ngram_range=(1, 2), min_df=2, sublinear_tf=True,
                                    max_features=max_word, dtype=np.float32)
        self.context = TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True,
                                       max_features=max_context, dtype=np.float32)
        self.context_weight = context_weight
        # The other speaker's next turn: feature, not rule (a poor counselor does not react to a cue).
        self.next = TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True,
                                    max_features=max_context, dtype=np.float32)
        self.next_weight = next_weight
        # Written corpora (AnnoMI) have question marks; ASR text never does. Off for the scorer.
        self.keep_questions = keep_questions
        # The second model's view (CodeClassifier): which lemma 1-, 2- and 3-grams the text has. Beside the
        # main model it ranked held-out calls better at the flags' end (328 calls, grouped 5-fold, each
        # code's call score alone: false alarms at full held-out recall, clean / noised, risk_cue 59 / 62 →
        # 43 / 42, judgment 31 / 80 → 23 / 43):
        # «не хочу жить» is a word sequence, while character n-grams also match look-alikes («поедем» ~
        # «уеду») and the main model alone over-trusts them.
        self.ngrams = (CountVectorizer(token_pattern=r"\S+", ngram_range=(1, 3), min_df=2, binary=True,
                                       max_features=max_ngrams, dtype=np.float32) if ngram_view else None)

    def _norm(self, text: str) -> str:
        norm = asr_text(text)
        if self.keep_questions and "?" in text:
            norm += " qmark"
        return norm

    def _views(self, examples: Sequence[Example]) -> tuple[list[str], list[str], list[str], list[str]]:
        norm = [self._norm(e.text) for e in examples]
        next_speakers = getattr(self, "next_speakers", (COUNSELOR, CALLER))  # before v1.2.0: both speakers
        context_speakers = getattr(self, "context_speakers", (COUNSELOR, CALLER))  # before v1.4.0: both
        return (norm, [lemmas(t) for t in norm],
                [lemmas(asr_text(e.context)) if e.speaker in context_speakers else "" for e in examples],
                [lemmas(asr_text(e.next_context)) if e.next_context and e.speaker in next_speakers else ""
                 for e in examples])

    def _positions(self, examples: Sequence[Example]) -> sp.csr_matrix:
        # Models pickled before v1.2.0 gave both speakers position features.
        return _position_features(examples, getattr(self, "position_speakers", (COUNSELOR, CALLER)))

    def _lexicon(self, examples: Sequence[Example], norm: Sequence[str], lem: Sequence[str]) -> list[sp.csr_matrix]:
        lexicon = getattr(self, "lexicon", None)  # models before v1.4.0 have none
        if lexicon is None:
            return []
        # Matched only for the lexicon's speakers (regexes on every counselor segment would be wasted work);
        # the other rows stay zero.
        rows = [i for i, e in enumerate(examples) if e.speaker in self.lexicon_speakers]
        block = sp.lil_matrix((len(examples), lexicon.width), dtype=np.float32)
        if rows:
            block[rows] = lexicon.features([norm[i] for i in rows], [lem[i] for i in rows]) * self.lexicon_weight
        return [block.tocsr()]

    def fit_transform(self, examples: Sequence[Example]) -> Features:
        norm, lem, ctx, nxt = self._views(examples)
        if not any(ctx):  # no previous turn for any example's speaker: no context block
            self.context = None
        if not any(nxt):  # single utterances only: no next-turn block
            self.next = None
        return self._stack(examples, norm, lem, ctx, nxt, fit=True)

    def transform(self, examples: Sequence[Example]) -> Features:
        return self._stack(examples, *self._views(examples), fit=False)

    def _stack(self, examples: Sequence[Example], norm: Sequence[str], lem: Sequence[str], ctx: Sequence[str],
               nxt: Sequence[str], fit: bool) -> Features:
        blocks = [(self.char, norm, 1.0), (self.word, lem, 1.0), (self.context, ctx, self.context_weight),
                  (getattr(self, "next", None), nxt, self.next_weight)]
        text_blocks = [(vec.fit_transform(texts) if fit else vec.transform(texts)) * weight
                       for vec, texts, weight in blocks if vec is not None]
        main = sp.hstack([*text_blocks, *self._lexicon(examples, norm, lem), self._positions(examples)], format="csr")
        ngrams = getattr(self, "ngrams", None)  # featurizers before v1.6.0 have no second view
        if ngrams is None:
            return Features(main)
        return Features(main, (ngrams.fit_transform(lem) if fit else ngrams.transform(lem)).tocsr())


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Sigmoid (Platt) calibration p = sigmoid(a·s + b) of out-of-fold decision values s."""
    lr = LogisticRegression(C=1e6, solver="lbfgs")
    lr.fit(scores.reshape(-1, 1), y)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def choose_threshold(probs: np.ndarray, y: np.ndarray, recall_target: float | None = None) -> float:
    """F1-optimal threshold; with a recall target, the highest threshold that still reaches it."""
    positives = probs[y == 1]
    if positives.size == 0:
        return 0.5
    if recall_target is not None:
        ranked = np.sort(positives)
        keep = int(math.ceil(recall_target * ranked.size))
        return float(max(0.01, ranked[ranked.size - keep] * 0.95))
    best_t, best_f1 = 0.5, -1.0
    for t in np.unique(np.round(probs, 3)):
        pred = probs >= t
        tp = float(np.sum(pred & (y == 1)))
        f1 = 2 * tp / (pred.sum() + positives.size) if tp else 0.0
        if f1 > best_f1:
            best_t, best_f1 = float(t), f1
    return best_t


@dataclass
class CodeClassifier:
    """One speaker's codes: a linear model per code on the main features — for the `ngram_codes`, when the
    features have the n-gram view, also a naive-Bayes-weighted one on lemma n-grams and the mean of their
    probabilities — Platt-calibrated, with thresholds."""

    codes: list[str]
    # The codes whose held-out calls the two models rank better than one: the critical flags' codes. For
    # the other codes the second model moved F1 both ways (−0.02…+0.01) and AnnoMI's macro-F1 down
    # (0.750 → 0.734).
    ngram_codes: list[str] = field(default_factory=list)
    coef: np.ndarray = field(default=None, repr=False)  # (features, codes), float32
    intercept: np.ndarray = field(default=None, repr=False)
    # The n-gram models: (n-gram features, ngram codes present), the naive-Bayes ratio folded into the
    # weights; None without n-gram codes (and in models pickled before v1.6.0).
    ngram_coef: np.ndarray | None = field(default=None, repr=False)
    ngram_intercept: np.ndarray | None = field(default=None, repr=False)
    platt: np.ndarray = field(default=None, repr=False)  # (codes, 2)
    thresholds: dict[str, float] = field(default_factory=dict)
    oof: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict, repr=False)

    def _ngram_columns(self) -> list[int]:
        if getattr(self, "ngram_coef", None) is None:  # models before v1.6.0: the main model only
            return []
        return [j for j, c in enumerate(self.codes) if c in self.ngram_codes]

    def fit(self, X: Features, Y: np.ndarray, groups: np.ndarray, C: float = 4.0, folds: int = 4,
            recall_targets: Mapping[str, float] | None = None) -> CodeClassifier:
        recall_targets = recall_targets or {}
        n_codes = len(self.codes)
        self.coef = np.zeros((X.main.shape[1], n_codes), dtype=np.float32)
        self.intercept = np.zeros(n_codes, dtype=np.float32)
        self.ngram_codes = [c for c in self.codes if c in self.ngram_codes] if X.ngrams is not None else []
        if self.ngram_codes:
            self.ngram_coef = np.zeros((X.ngrams.shape[1], len(self.ngram_codes)), dtype=np.float32)
            self.ngram_intercept = np.zeros(len(self.ngram_codes), dtype=np.float32)
        self.platt = np.zeros((n_codes, 2))
        n_groups = len(set(groups.tolist()))
        splits = (list(GroupKFold(n_splits=min(folds, n_groups)).split(np.zeros(X.n_rows), groups=groups))
                  if folds > 1 else [])
        for j, code in enumerate(self.codes):
            y = Y[:, j]
            ngram = self.ngram_codes.index(code) if code in self.ngram_codes else None
            if y.sum() == 0 or y.sum() == len(y):
                self.intercept[j] = 10.0 if y.sum() else -10.0
                if ngram is not None:
                    self.ngram_intercept[ngram] = self.intercept[j]
                self.platt[j] = (1.0, 0.0)
                self.thresholds[code] = 0.5
                continue
            oof = np.zeros(len(y))
            for train, test in splits:
                if y[train].sum() == 0:
                    oof[test] = -10.0
                    continue
                oof[test] = _decision(X[test], *self._fit_code(X[train], y[train], C, ngram is not None))
            weights = self._fit_code(X, y, C, ngram is not None)
            self.coef[:, j], self.intercept[j] = weights[0], weights[1]
            if ngram is not None:
                self.ngram_coef[:, ngram], self.ngram_intercept[ngram] = weights[2], weights[3]
            if splits:
                self.platt[j] = _platt(oof, y)
                probs = _sigmoid(self.platt[j, 0] * oof + self.platt[j, 1])
                self.oof[code] = (probs, y)
                self.thresholds[code] = choose_threshold(probs, y, recall_targets.get(code))
            else:
                self.platt[j] = (1.0, 0.0)
                self.thresholds[code] = 0.5
        return self

    @classmethod
    def _fit_code(cls, X: Features, y: np.ndarray, C: float, ngram: bool) -> tuple:
        """(coef, intercept, n-gram coef, n-gram intercept) of one code; the last two None without n-grams."""
        lr = cls._lr(C).fit(X.main, y)
        if not ngram:
            return lr.coef_[0], lr.intercept_[0], None, None
        # Naive-Bayes features (Wang & Manning 2012): each n-gram scaled by the log ratio of its smoothed
        # frequency among the code's examples and among the others, then a logistic regression on them.
        present = 1.0 + np.asarray(X.ngrams[y == 1].sum(axis=0)).ravel()
        absent = 1.0 + np.asarray(X.ngrams[y == 0].sum(axis=0)).ravel()
        ratio = np.log(present / present.sum()) - np.log(absent / absent.sum())
        nb = cls._lr(C).fit(X.ngrams.multiply(ratio).tocsr(), y)
        return lr.coef_[0], lr.intercept_[0], nb.coef_[0] * ratio, nb.intercept_[0]

    @staticmethod
    def _lr(C: float) -> LogisticRegression:
        return LogisticRegression(C=C, class_weight="balanced", solver="liblinear", max_iter=200)

    def predict_proba(self, X: Features) -> np.ndarray:
        scores = np.asarray(X.main @ self.coef) + self.intercept
        columns = self._ngram_columns()
        if columns:
            ngram = np.asarray(X.ngrams @ self.ngram_coef) + self.ngram_intercept
            scores[:, columns] = _blend(scores[:, columns], ngram)
        return _sigmoid(scores * self.platt[:, 0] + self.platt[:, 1])


def _decision(X: Features, coef: np.ndarray, intercept, ngram_coef: np.ndarray | None,
              ngram_intercept) -> np.ndarray:
    """The value Platt scaling calibrates, for one code: the main model's decision value, blended with the
    n-gram model's when the code has one."""
    main = X.main @ coef + intercept
    return main if ngram_coef is None else _blend(main, X.ngrams @ ngram_coef + ngram_intercept)


def _blend(main: np.ndarray, ngram: np.ndarray) -> np.ndarray:
    """The logit of the mean of the two models' probabilities (the arithmetic mean: averaging the logits
    ranked held-out calls worse)."""
    mean = np.clip((_sigmoid(main) + _sigmoid(ngram)) / 2, 1e-12, 1 - 1e-12)
    return np.log(mean / (1 - mean))


@dataclass
class UtteranceModel:
    """Both speakers' classifiers over one featurizer; what model.joblib holds."""

    counselor_codes: list[str]
    caller_codes: list[str]
    featurizer: Featurizer = field(default_factory=Featurizer)
    counselor: CodeClassifier | None = None
    caller: CodeClassifier | None = None
    meta: dict = field(default_factory=dict)
    # Call-level decisions for the codes whose criteria only ask "anywhere in the call?":
    # {code: {"speaker", "k", "threshold", "review_threshold"}} — noisy-OR of the speaker's top-k
    # probabilities of the code against each threshold (models before v1.2.0 have one, used for both).
    call_level: dict[str, dict] = field(default_factory=dict)
    # Utterance codes that clear a critical flag (a risk question): the review codes keep them only at or
    # above this probability (training.tune_review_thresholds).
    review_thresholds: dict[str, float] = field(default_factory=dict)
    _oof: dict[int, dict[str, float]] = field(default_factory=dict, repr=False)

    def fit(self, examples: Sequence[Example], C: float = 4.0, folds: int = 4,
            recall_targets: Mapping[str, float] | None = None) -> UtteranceModel:
        X = self.featurizer.fit_transform(examples)
        for speaker, codes in ((COUNSELOR, self.counselor_codes), (CALLER, self.caller_codes)):
            rows = np.array([i for i, e in enumerate(examples) if e.speaker == speaker])
            Y = np.array([[c in examples[i].codes for c in codes] for i in rows], dtype=int).reshape(len(rows),
                                                                                                     len(codes))
            groups = np.array([examples[i].group for i in rows])
            clf = CodeClassifier(list(codes), ngram_codes=list(SAFETY_CODES)).fit(
                X[rows], Y, groups, C=C, folds=folds, recall_targets=recall_targets)
            setattr(self, speaker, clf)
            for r, i in enumerate(rows):  # out-of-fold probabilities, for threshold tuning on calls
                if clf.oof:
                    self._oof[int(i)] = {c: float(clf.oof[c][0][r]) if c in clf.oof else 0.0 for c in codes}
        return self

    def oof_probabilities(self, index: int) -> dict[str, float] | None:
        """Out-of-fold probabilities of training example `index` (after fit with folds > 1)."""
        return self._oof.get(index)

    def drop_training_state(self) -> None:
        """Forget out-of-fold values before saving: they are large and hold nothing a scorer needs."""
        self._oof = {}
        for clf in (self.counselor, self.caller):
            if clf is not None:
                clf.oof = {}

    def decide(self, probs: Mapping[str, float], speaker: str,
               thresholds: Mapping[str, float] | None = None) -> frozenset[str]:
        clf: CodeClassifier = getattr(self, speaker)
        thresholds = thresholds or clf.thresholds
        return frozenset(coding_conventions({c for c in clf.codes if probs[c] >= thresholds[c]}, speaker))

    def predict(self, examples: Sequence[Example]) -> tuple[list[frozenset[str]], list[dict[str, float]]]:
        """Codes above threshold and the probability of every code of the segment's speaker."""
        if not examples:
            return [], []
        X = self.featurizer.transform(examples)
        codes: list[frozenset[str]] = [frozenset()] * len(examples)
        probs: list[dict[str, float]] = [{} for _ in examples]
        for speaker in (COUNSELOR, CALLER):
            clf: CodeClassifier = getattr(self, speaker)
            rows = [i for i, e in enumerate(examples) if e.speaker == speaker]
            if not rows:
                continue
            P = clf.predict_proba(X[rows])
            for r, i in enumerate(rows):
                probs[i] = {c: round(float(P[r, j]), 4) for j, c in enumerate(clf.codes)}
                codes[i] = self.decide({c: float(P[r, j]) for j, c in enumerate(clf.codes)}, speaker)
        if getattr(self, "call_level", None):
            codes = self.apply_call_level(examples, codes, probs)
        return codes, probs

    def apply_call_level(self, examples: Sequence[Example], codes: Sequence[frozenset[str]],
                         probs: Sequence[Mapping[str, float]], review: bool = False,
                         review_factor: float = 1.0) -> list[frozenset[str]]:
        """Segments of one call (same group, with a position) get the call-level decision for the
        `call_level` codes: when the call's score reaches the call threshold (for the review codes
        `review_threshold` × `review_factor`, at most the decision threshold), the code stays on the segments
        above the utterance threshold and, if none is, goes to the most probable segment; otherwise no
        segment of the call carries it. Single utterances (no position or no call id) keep their own
        decisions."""
        out = list(codes)
        calls: dict[str, list[int]] = {}
        for i, e in enumerate(examples):
            if e.position is not None and e.group:
                calls.setdefault(e.group, []).append(i)
        for rows in calls.values():
            changed = set()
            for code, rule in self.call_level.items():
                pool = [i for i in rows if examples[i].speaker == rule["speaker"] and code in probs[i]]
                if not pool:
                    continue
                ps = [probs[i][code] for i in pool]
                threshold = rule["threshold"]
                if review:
                    threshold = min(rule.get("review_threshold", threshold) * review_factor, threshold)
                if call_score(ps, rule["k"]) >= threshold:
                    if not any(code in out[i] for i in pool):
                        best = pool[int(np.argmax(ps))]
                        out[best] = out[best] | {code}
                        changed.add(best)
                else:
                    for i in pool:
                        if code in out[i]:
                            out[i] = out[i] - {code}
                            changed.add(i)
            for i in changed:
                out[i] = frozenset(coding_conventions(set(out[i]), examples[i].speaker))
        return out

    def review_codes(self, examples: Sequence[Example], codes: Sequence[frozenset[str]],
                     probs: Sequence[Mapping[str, float]], review_factor: float = 1.0) -> list[frozenset[str]]:
        """The codes the critical flags are computed from: `codes` (from `predict`) with the call-level
        codes decided at the recall-first `review_threshold` (× `review_factor`, the protocol's choice of
        operating point), and the flag-clearing codes only where the model is sure of them
        (`review_thresholds`)."""
        out = (self.apply_call_level(examples, codes, probs, review=True, review_factor=review_factor)
               if getattr(self, "call_level", None) else list(codes))
        for code, threshold in getattr(self, "review_thresholds", {}).items():
            out = [c - {code} if code in c and probs[i].get(code, 0.0) < threshold else c
                   for i, c in enumerate(out)]
        return out

    def predict_call(self, call: Call, review_factor: float = 1.0
                     ) -> tuple[list[frozenset[str]], list[dict[str, float]], list[frozenset[str]]]:
        """Codes, probabilities and review codes of every segment of a call."""
        examples = examples_from_call(call)
        codes, probs = self.predict(examples)
        return codes, probs, self.review_codes(examples, codes, probs, review_factor)


def call_score(probs: Sequence[float], k: int) -> float:
    """Noisy-OR of the k highest probabilities: one clear cue, or several weaker ones, make a call positive."""
    top = sorted(probs, reverse=True)[:max(1, k)]
    q = 1.0
    for p in top:
        q *= 1.0 - p
    return 1.0 - q

"""A lexicon of risk categories (risk_lexicon_ru.yaml) as features: log(1 + patterns matched) per category,
and, when the file names negation words, the same count for matches right after a negation."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import scipy.sparse as sp
import yaml

DEFAULT_LEXICON = "risk_lexicon_ru.yaml"


@dataclass(frozen=True)
class Lexicon:
    version: int
    categories: dict[str, tuple[re.Pattern, ...]]
    negations: frozenset[str] = frozenset()  # «не бьёт» is not «бьёт»: counted apart when given
    negation_window: int = 0  # words before a match that may negate it

    @classmethod
    def load(cls, name: str = DEFAULT_LEXICON) -> Lexicon:
        data = yaml.safe_load(resources.files("helpline_scorer").joinpath(name).read_text(encoding="utf-8"))
        negation = data.get("negation") or {}
        return cls(int(data["version"]),
                   {cat: tuple(re.compile(p) for p in patterns) for cat, patterns in data["categories"].items()},
                   frozenset(negation.get("words", [])), int(negation.get("window", 0)))

    @property
    def width(self) -> int:
        return len(self.categories) * (2 if self._negates else 1)

    @property
    def _negates(self) -> bool:
        return bool(getattr(self, "negations", None)) and getattr(self, "negation_window", 0) > 0

    def _negated(self, text: str, start: int) -> bool:
        before = text[:start].split()[-self.negation_window:]
        return any(w in self.negations for w in before)

    def features(self, normalized: Sequence[str], lemmatized: Sequence[str]) -> sp.csr_matrix:
        """One row per text: per category, log(1 + its patterns found in the text or its lemmas); with
        negation words, split into patterns found un-negated and patterns found only after a negation."""
        rows = []
        for norm, lem in zip(normalized, lemmatized, strict=True):
            text = f"{norm} | {lem}"
            row = []
            for patterns in self.categories.values():
                if not self._negates:
                    row.append(math.log1p(sum(1 for p in patterns if p.search(text))))
                    continue
                affirmed = negated = 0
                for p in patterns:
                    starts = [m.start() for m in p.finditer(text)]
                    if any(not self._negated(text, s) for s in starts):
                        affirmed += 1
                    elif starts:
                        negated += 1
                row += [math.log1p(affirmed), math.log1p(negated)]
            rows.append(row)
        return sp.csr_matrix(np.asarray(rows, dtype=np.float32).reshape(len(rows), self.width))

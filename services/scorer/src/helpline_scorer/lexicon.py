"""A lexicon of risk categories (risk_lexicon_ru.yaml) as features: log(1 + patterns matched) per category."""

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

    @classmethod
    def load(cls, name: str = DEFAULT_LEXICON) -> Lexicon:
        data = yaml.safe_load(resources.files("helpline_scorer").joinpath(name).read_text(encoding="utf-8"))
        return cls(int(data["version"]),
                   {cat: tuple(re.compile(p) for p in patterns) for cat, patterns in data["categories"].items()})

    def features(self, normalized: Sequence[str], lemmatized: Sequence[str]) -> sp.csr_matrix:
        """One row per text: log(1 + number of the category's patterns found in the text or its lemmas)."""
        rows = []
        for norm, lem in zip(normalized, lemmatized, strict=True):
            text = f"{norm} | {lem}"
            rows.append([math.log1p(sum(1 for p in patterns if p.search(text)))
                         for patterns in self.categories.values()])
        return sp.csr_matrix(np.asarray(rows, dtype=np.float32).reshape(len(rows), len(self.categories)))

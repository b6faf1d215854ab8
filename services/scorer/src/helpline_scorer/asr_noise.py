"""The ASR-noise view of a clean text: what offline Russian speech recognition would plausibly return.

lower case, no punctuation, numbers as words (textnorm.asr_text), then 10–30 % of the words damaged
the way ASR damages them:
- a wrong ending (another inflected form of the same word: «сказала» → «сказал»), the commonest
  Russian ASR error;
- a similar-sounding spelling (akanye «хорошо» → «харашо», final devoicing «друг» → «друк»,
  «-тся» → «-ца», «что» → «што», «его» → «ево»);
- a short word dropped («в», «не», «же», «ну»), or any word dropped;
- two words merged («не знаю» → «незнаю») or one split («поговорить» → «по говорить»).

Deterministic: the same (text, seed, key) always gives the same noise (sha256-seeded RNG, never
Python's randomised hash).
"""

from __future__ import annotations

import hashlib
import random
import re

from helpline_scorer.textnorm import _morph, asr_text

_VOWELS = "аеёиоуыэюя"
_DEVOICE = {"б": "п", "в": "ф", "г": "к", "д": "т", "ж": "ш", "з": "с"}
_WHOLE = {"что": "што", "чтобы": "штобы", "его": "ево", "конечно": "конешно", "сейчас": "щас",
          "тебя": "тибя", "меня": "миня", "здравствуйте": "здрасте", "пожалуйста": "пожалста",
          "сегодня": "севодня", "много": "многа", "тогда": "тагда", "когда": "кагда",
          "скажи": "скажы", "хорошо": "харашо", "говорят": "гаварят", "потому": "патаму",
          "ничего": "ничево", "только": "тока", "человек": "чилавек", "здравствуй": "здрасти"}
_PHONETIC = [
    (re.compile(r"ться$|тся$"), "ца"),
    (re.compile(r"ого$"), "ова"),
    (re.compile(r"его$"), "ево"),
    (re.compile(r"сч|зч"), "щ"),
    (re.compile(r"([бвгджзклмнпрстф])\1"), r"\1"),
    (re.compile(r"ь"), ""),
    (re.compile(r"й$"), ""),
    (re.compile(r"е(?=[бвгджзклмнпрстфхцчшщ][аеиоуыэюя])"), "и"),
]


def _rng(text: str, seed: int, key: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}\x00{key}\x00{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _sound_alike(word: str, rng: random.Random) -> str:
    if word in _WHOLE:
        return _WHOLE[word]
    candidates = []
    # akanye: an unstressed о (not the first vowel) heard as а
    positions = [i for i, ch in enumerate(word) if ch == "о"]
    first_vowel = next((i for i, ch in enumerate(word) if ch in _VOWELS), -1)
    for i in positions:
        if i != first_vowel:
            candidates.append(word[:i] + "а" + word[i + 1:])
    if word and word[-1] in _DEVOICE and len(word) > 2:
        candidates.append(word[:-1] + _DEVOICE[word[-1]])
    for pattern, repl in _PHONETIC:
        changed = pattern.sub(repl, word, count=1)
        if changed != word and changed:
            candidates.append(changed)
    return rng.choice(candidates) if candidates else word


def _other_form(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    parse = _morph().parse(word)[0]
    pos = parse.tag.POS
    if pos in (None, "PRTF", "PRTS", "GRND", "CONJ", "PREP", "PRCL", "NPRO"):
        return word
    forms = sorted({f.word.replace("ё", "е") for f in parse.lexeme
                    if f.tag.POS == pos and abs(len(f.word) - len(word)) <= 3} - {word})
    # ASR confuses endings: keep forms that share the stem
    forms = [f for f in forms if f[:max(3, len(word) - 4)] == word[:max(3, len(word) - 4)]]
    return rng.choice(forms) if forms else word


def _split(word: str, rng: random.Random) -> list[str]:
    if len(word) < 7:
        return [word]
    cut = rng.randint(2, len(word) - 3)
    return [word[:cut], word[cut:]]


def noisy(text: str, seed: int = 0, key: str = "", rate: tuple[float, float] = (0.10, 0.30)) -> str:
    """The ASR-noise view of `text`; `key` separates several noisy copies of the same text."""
    words = asr_text(text).split()
    if not words:
        return ""
    rng = _rng(text, seed, key)
    share = rng.uniform(*rate)
    n_errors = max(1, round(share * len(words))) if len(words) >= 3 else int(rng.random() < share * 2)
    targets = set(rng.sample(range(len(words)), min(n_errors, len(words))))
    out: list[str] = []
    skip_next = False
    for i, word in enumerate(words):
        if skip_next:
            skip_next = False
            continue
        if i not in targets:
            out.append(word)
            continue
        short = len(word) <= 3
        kind = rng.choices(["drop", "ending", "sound", "merge", "split"],
                           weights=[4 if short else 1, 0 if short else 4, 3, 1.5 if short else 0.5,
                                    0 if short else 1])[0]
        if kind == "drop":
            continue
        if kind == "ending":
            out.append(_other_form(word, rng))
        elif kind == "sound":
            out.append(_sound_alike(word, rng))
        elif kind == "merge" and i + 1 < len(words):
            out.append(word + words[i + 1])
            skip_next = True
        elif kind == "split":
            out.extend(_split(word, rng))
        else:
            out.append(_sound_alike(word, rng))
    return " ".join(w for w in out if w)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of `hypothesis` against `reference` (both already normalised), by edit distance on words."""
    ref, hyp = reference.split(), hypothesis.split()
    if not ref:
        return float(bool(hyp))
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1] / len(ref)

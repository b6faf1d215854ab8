"""Text normalisation shared by training and scoring: every text is turned into what offline speech
recognition produces (lower case, no punctuation, numbers as words), then into lemmas.

Clean corpus text and ASR output thus meet in the same space; the model never relies on punctuation
or capitals, which ASR does not give.
"""

from __future__ import annotations

import re
from functools import lru_cache

_ONES = ["ноль", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять",
         "одиннадцать", "двенадцать", "тринадцать", "четырнадцать", "пятнадцать", "шестнадцать",
         "семнадцать", "восемнадцать", "девятнадцать"]
_TENS = ["", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят",
         "девяносто"]
_HUNDREDS = ["", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот",
             "девятьсот"]


def _below_thousand(n: int, feminine: bool = False) -> list[str]:
    words: list[str] = []
    if n >= 100:
        words.append(_HUNDREDS[n // 100])
        n %= 100
    if n >= 20:
        words.append(_TENS[n // 10])
        n %= 10
        if n == 0:
            return words
    if n or not words:
        if feminine and n in (1, 2):
            words.append("одна" if n == 1 else "две")
        else:
            words.append(_ONES[n])
    return words


def number_to_words(n: int) -> str:
    """Russian cardinal in words (nominative), 0 ≤ n < 10⁹; larger numbers are read digit by digit."""
    if n < 0:
        return "минус " + number_to_words(-n)
    if n >= 10**9:
        return " ".join(_ONES[int(d)] for d in str(n))
    words: list[str] = []
    millions, rest = divmod(n, 10**6)
    thousands, units = divmod(rest, 1000)
    if millions:
        words += _below_thousand(millions)
        last = millions % 100
        words.append("миллион" if last % 10 == 1 and last != 11 else
                     "миллиона" if last % 10 in (2, 3, 4) and last not in (12, 13, 14) else "миллионов")
    if thousands:
        words += _below_thousand(thousands, feminine=True)
        last = thousands % 100
        words.append("тысяча" if last % 10 == 1 and last != 11 else
                     "тысячи" if last % 10 in (2, 3, 4) and last not in (12, 13, 14) else "тысяч")
    if units or not words:
        words += _below_thousand(units)
    return " ".join(words)


_NUMBER = re.compile(r"\d+")
_PLACEHOLDER = re.compile(r"\[([A-Za-zА-Яа-яЁё_]+)\]")
_NON_WORD = re.compile(r"[^0-9a-zа-я_ ]+")
_SPACES = re.compile(r"\s+")


def asr_text(text: str) -> str:
    """Clean text → ASR-like text: lower case, ё→е, numbers as words, no punctuation.

    Redaction placeholders such as "[ИМЯ]" become one token ("ph_имя").
    """
    text = _PLACEHOLDER.sub(lambda m: f" ph_{m.group(1).lower()} ", text)
    text = text.lower().replace("ё", "е")
    text = _NUMBER.sub(lambda m: f" {number_to_words(int(m.group()))} ", text)
    text = text.replace("-", " ")
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer(lang="ru")


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    if word.startswith("ph_") or not word.isalpha():
        return word
    return _morph().parse(word)[0].normal_form.replace("ё", "е")


def lemmas(normalized: str) -> str:
    """Space-joined lemmas of an already normalised text."""
    return " ".join(lemma(w) for w in normalized.split())

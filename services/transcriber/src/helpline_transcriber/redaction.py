"""Redaction of Russian transcripts: names, phone numbers (also spoken as words), e-mail addresses,
street addresses and school numbers become typed placeholders, and are counted.

Speech recognition gives lower-case words without punctuation, where a named-entity tagger alone sees
little. So three sources are combined:
- rules for numbers spoken as words, spoken e-mail addresses («маша собака мейл точка ру»), streets,
  houses and flats, schools with their numbers;
- a name gazetteer: pymorphy3's dictionary tags first names, surnames and patronymics (Name/Surn/Patr),
  strengthened by cues such as «меня зовут …»;
- natasha's NER (slovnet) on the text, and on lower-case text after capitalising the gazetteer's
  candidates, so that it can add the unknown surname next to a known first name.
Over-redaction is preferred to a leak. Nothing here logs text.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass

PLACEHOLDERS = {"name": "[ИМЯ]", "phone": "[ТЕЛЕФОН]", "email": "[EMAIL]", "address": "[АДРЕС]",
                "school": "[ШКОЛА]"}
TYPES = tuple(PLACEHOLDERS)
_PRIORITY = {"email": 0, "phone": 1, "address": 2, "school": 3, "name": 4}
_PLACEHOLDER_WORDS = frozenset(PLACEHOLDERS.values())

# -- numbers spoken as words ------------------------------------------------------------------------
_UNITS = {"ноль": 0, "нуль": 0, "один": 1, "одна": 1, "одно": 1, "два": 2, "две": 2, "три": 3, "четыре": 4,
          "пять": 5, "шесть": 6, "семь": 7, "восемь": 8, "девять": 9}
_TEENS = {"десять": 10, "одиннадцать": 11, "двенадцать": 12, "тринадцать": 13, "четырнадцать": 14,
          "пятнадцать": 15, "шестнадцать": 16, "семнадцать": 17, "восемнадцать": 18, "девятнадцать": 19}
_TENS = {"двадцать": 20, "тридцать": 30, "сорок": 40, "пятьдесят": 50, "шестьдесят": 60, "семьдесят": 70,
         "восемьдесят": 80, "девяносто": 90}
_HUNDREDS = {"сто": 100, "двести": 200, "триста": 300, "четыреста": 400, "пятьсот": 500, "шестьсот": 600,
             "семьсот": 700, "восемьсот": 800, "девятьсот": 900}
_THOUSANDS = {"тысяча", "тысячи", "тысяч"}
_NUMBER_WORDS = set(_UNITS) | set(_TEENS) | set(_TENS) | set(_HUNDREDS) | _THOUSANDS
_PHONE_JOINERS = {"плюс", "тире", "дефис"}
_PHONE_CUES = {"телефон", "телефона", "номер", "номера", "мобильный", "мобильного", "сотовый", "позвони",
               "позвоните", "звони", "звоните", "набери", "наберите", "запиши", "запишите", "телефону"}

# -- e-mail, addresses, schools -------------------------------------------------------------------
_AT_WORDS = {"собака", "собачка", "эт", "at"}
_DOT_WORDS = {"точка", "dot"}
_TLDS = {"ру", "ru", "рф", "ком", "com", "нет", "net", "орг", "org", "су", "su", "инфо", "info", "ио", "io"}
_STREET_WORDS = {"улица", "ул", "проспект", "пр", "пр-т", "переулок", "пер", "шоссе", "бульвар", "б-р",
                 "площадь", "пл", "набережная", "наб", "проезд", "микрорайон", "мкр", "тупик", "аллея",
                 "квартал", "линия"}
_HOUSE_WORDS = {"дом", "д", "корпус", "корп", "к", "строение", "стр", "квартира", "кв", "подъезд", "этаж"}
_SCHOOL_WORDS = {"школа", "гимназия", "лицей", "сош", "сш", "школа-интернат", "интернат", "колледж", "техникум"}
_NUMBER_SIGNS = {"номер", "№", "н", "n"}
# Words that never start or continue a street name.
_STREET_STOP_POS = {"VERB", "INFN", "PRCL", "CONJ", "PREP", "NPRO", "ADVB", "INTJ", "PRED", "GRND", "COMP"}

# -- names ---------------------------------------------------------------------------------------
_NAME_CUES = {"зовут", "звать", "зови", "зовите", "имя", "фамилия", "фамилию", "отчество", "кличут", "звали"}
_NAME_TAGS = ("Name", "Surn", "Patr")

_TOKEN_RE = re.compile(
    r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<phone>\+?\d(?:[ \t\-().]{0,3}\d){6,14})"
    r"|(?P<word>[^\W\d_]+(?:-[^\W\d_]+)*)"
    r"|(?P<num>\d+)"
    r"|(?P<sign>№)"
    r"|(?P<punct>[^\s\w])",
    re.UNICODE,
)


@dataclass(frozen=True)
class Token:
    text: str
    start: int  # character offsets in the text
    end: int
    kind: str  # email, phone, word, num, sign, punct

    @property
    def norm(self) -> str:
        return self.text.lower().replace("ё", "е")


def tokenize(text: str) -> list[Token]:
    return [Token(m.group(), m.start(), m.end(), m.lastgroup) for m in _TOKEN_RE.finditer(text)]


@dataclass(frozen=True)
class Span:
    start: int  # token index, inclusive
    end: int  # token index, exclusive
    kind: str


@functools.lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@functools.lru_cache(maxsize=200_000)
def _parses(word: str) -> tuple[tuple[str, frozenset[str], float], ...]:
    return tuple((p.normal_form, frozenset(str(p.tag).replace(" ", ",").split(",")), p.score)
                 for p in _morph().parse(word))


def _lemma(word: str) -> str:
    parses = _parses(word)
    return parses[0][0] if parses else word


def _has_pos(word: str, pos: set[str]) -> bool:
    parses = _parses(word)
    return bool(parses) and bool(parses[0][1] & pos)


@functools.lru_cache(maxsize=200_000)
def name_score(word: str) -> float:
    """How strongly the dictionary says that `word` is a first name, surname or patronymic (0-1)."""
    if len(word) < 3 or not word.isalpha():
        return 0.0
    parses = _parses(word)
    if not parses:
        return 0.0
    top_tags = parses[0][1]
    if any(t in top_tags for t in _NAME_TAGS):
        return max(0.5, parses[0][2])
    return max((score for _, tags, score in parses if any(t in tags for t in _NAME_TAGS)), default=0.0)


def _is_ordinal(word: str) -> bool:
    return any("Anum" in tags for _, tags, _ in _parses(word)[:1])


def _is_numeric(tok: Token) -> bool:
    return tok.kind in ("num", "phone") or tok.norm in _NUMBER_WORDS


def _digits(words: Sequence[Token]) -> int:
    """How many digits a run of spoken or written numbers stands for («девятьсот шестнадцать» → 3)."""
    total = 0
    group: list[str] = []  # which parts the current group has: h, t, u

    def close():
        nonlocal total, group
        if group:
            total += {("h",): 3, ("h", "t"): 3, ("h", "u"): 3, ("h", "t", "u"): 3, ("h", "teen"): 3}.get(
                tuple(group), 2 if group[0] in ("t", "teen") else 1)
        group = []

    for tok in words:
        w = tok.norm
        if tok.kind in ("num", "phone"):
            close()
            total += sum(c.isdigit() for c in tok.text)
        elif w in _HUNDREDS:
            close()
            group = ["h"]
        elif w in _TENS:
            if group and group != ["h"]:
                close()
            group.append("t")
        elif w in _TEENS:
            if group and group != ["h"]:
                close()
            group.append("teen")
            close()
        elif w in _UNITS:
            if _UNITS[w] == 0 or (group and group[-1] in ("u", "teen")):
                close()
            if _UNITS[w] == 0:
                total += 1
                continue
            group.append("u")
            close()
        elif w in _THOUSANDS:
            group = group or ["u"]
            close()
            total += 3
    close()
    return total


class Redactor:
    """Finds and replaces personal data; thread-safe; load once per process (natasha takes ~1 s)."""

    def __init__(self, use_ner: bool = True):
        self._ner = None
        self._lock = threading.Lock()
        if use_ner:
            from natasha import NewsEmbedding, NewsNERTagger, Segmenter

            self._segmenter = Segmenter()
            self._ner = NewsNERTagger(NewsEmbedding())
        _morph()

    # -- detectors over tokens ---------------------------------------------------------------------

    @staticmethod
    def _regex_spans(tokens: Sequence[Token]) -> list[Span]:
        return [Span(i, i + 1, t.kind) for i, t in enumerate(tokens) if t.kind in ("email", "phone")]

    @staticmethod
    def _phone_spans(tokens: Sequence[Token]) -> list[Span]:
        spans = []
        i, n = 0, len(tokens)
        while i < n:
            if not (_is_numeric(tokens[i]) or tokens[i].norm == "плюс"):
                i += 1
                continue
            j = i
            while j < n and (_is_numeric(tokens[j]) or tokens[j].norm in _PHONE_JOINERS
                             or (tokens[j].kind == "punct" and tokens[j].text in "-()+"
                                 and j + 1 < n and _is_numeric(tokens[j + 1]))):
                j += 1
            run = [t for t in tokens[i:j] if _is_numeric(t)]
            digits = _digits(run)
            before = {t.norm for t in tokens[max(0, i - 4):i]}
            school_before = any(_lemma(t.norm) in _SCHOOL_WORDS for t in tokens[max(0, i - 2):i])
            if digits >= 7 or (digits >= 5 and before & _PHONE_CUES and not school_before):
                spans.append(Span(i, j, "phone"))
            i = max(j, i + 1)
        return spans

    @staticmethod
    def _email_spans(tokens: Sequence[Token]) -> list[Span]:
        spans = []
        stop = {"почта", "почту", "почты", "адрес", "мейл", "имейл", "емейл", "это", "мой", "моя", "мою", "пиши",
                "напиши", "пишите", "напишите", "такой", "такая", "вот", "и", "а", "на", "у", "меня", "в"}
        for i, tok in enumerate(tokens):
            if tok.norm not in _AT_WORDS:
                continue
            # the domain: word (точка word)+ ending in a known top-level domain
            j = i + 1
            end = None
            while j + 2 <= len(tokens) and tokens[j].kind in ("word", "num"):
                if j + 1 < len(tokens) and tokens[j + 1].norm in _DOT_WORDS and j + 2 < len(tokens):
                    if tokens[j + 2].norm in _TLDS:
                        end = j + 3
                    j += 2
                    continue
                break
            if end is None or i == 0:
                continue
            k = i
            while k > 0 and i - k < 6 and tokens[k - 1].kind in ("word", "num") \
                    and tokens[k - 1].norm not in stop and tokens[k - 1].norm not in _NAME_CUES \
                    and not _has_pos(tokens[k - 1].norm, {"NPRO", "VERB", "PREP", "CONJ", "PRCL"}):
                k -= 1
            if k < i:
                spans.append(Span(k, end, "email"))
        return spans

    @staticmethod
    def _number_run(tokens: Sequence[Token], i: int) -> int:
        """End of a run of numbers (digits, number words, an ordinal, a letter like «а» or «б») at i."""
        j = i
        while j < len(tokens) and j - i < 6 and (
                _is_numeric(tokens[j]) or (tokens[j].kind == "word" and _is_ordinal(tokens[j].norm))):
            j += 1
        if i < j < len(tokens) and tokens[j].kind == "word" and len(tokens[j].text) == 1 \
                and tokens[j].norm in "абвгдежз" and tokens[j].start == tokens[j - 1].end:  # «42а»
            j += 1
        return j

    def _house_tail(self, tokens: Sequence[Token], j: int) -> int:
        """Extend an address over «дом 5 корпус 2 квартира 17» and punctuation between them."""
        while True:
            k = j
            while k < len(tokens) and tokens[k].kind == "punct" and tokens[k].text in ",.":
                k += 1
            if k < len(tokens) and tokens[k].norm in _HOUSE_WORDS:
                k += 1
                while k < len(tokens) and tokens[k].kind == "punct" and tokens[k].text == ".":
                    k += 1
                if k < len(tokens) and tokens[k].norm in _NUMBER_SIGNS:
                    k += 1
                e = self._number_run(tokens, k)
                if e > k:
                    j = e
                    continue
            return j

    def _address_spans(self, tokens: Sequence[Token]) -> list[Span]:
        spans = []
        n = len(tokens)
        for i, tok in enumerate(tokens):
            lemma = _lemma(tok.norm) if tok.kind == "word" else ""
            if tok.norm in _STREET_WORDS or lemma in _STREET_WORDS:
                start = i
                # an adjective before: «на ленинской улице», «по садовой улице»
                if i > 0 and tokens[i - 1].kind == "word" and _has_pos(tokens[i - 1].norm, {"ADJF"}) \
                        and not _has_pos(tokens[i - 1].norm, {"Apro"}):
                    start = i - 1
                j = i + 1
                while j < n and tokens[j].kind == "punct" and tokens[j].text == ".":
                    j += 1
                name_start = j
                while j < n and j - name_start < 3 and tokens[j].kind in ("word", "num") \
                        and tokens[j].norm not in _HOUSE_WORDS and tokens[j].norm not in _STREET_WORDS \
                        and not _has_pos(tokens[j].norm, _STREET_STOP_POS):
                    j += 1
                    if tokens[j - 1].kind == "num":
                        break
                j = self._house_tail(tokens, j)
                if j > i + 1 or start < i:
                    spans.append(Span(start, j, "address"))
            elif tok.norm in ("дом", "д", "квартира", "кв", "доме", "квартире"):
                k = i + 1
                while k < n and tokens[k].kind == "punct" and tokens[k].text == ".":
                    k += 1
                if k < n and tokens[k].norm in _NUMBER_SIGNS:
                    k += 1
                e = self._number_run(tokens, k)
                if e > k:
                    spans.append(Span(i, self._house_tail(tokens, e), "address"))
        return spans

    def _school_spans(self, tokens: Sequence[Token]) -> list[Span]:
        spans = []
        n = len(tokens)
        for i, tok in enumerate(tokens):
            if tok.kind != "word" or (tok.norm not in _SCHOOL_WORDS and _lemma(tok.norm) not in _SCHOOL_WORDS):
                continue
            # «школа номер сорок два», «школа № 42», «школу 1234», «гимназии два»
            k = i + 1
            if k < n and tokens[k].norm in _NUMBER_SIGNS:
                k += 1
            e = self._number_run(tokens, k)
            if e > k:
                spans.append(Span(i, e, "school"))
                continue
            # «школа имени пушкина»
            if k < n and tokens[k].norm == "имени":
                e = k + 1
                while e < n and e - k <= 3 and tokens[e].kind == "word" \
                        and not _has_pos(tokens[e].norm, _STREET_STOP_POS):
                    e += 1
                spans.append(Span(i, e, "school"))
                continue
            # «в сто двадцать пятой школе», «в 57-й школе»
            b = i
            while b > 0 and (_is_numeric(tokens[b - 1]) or _is_ordinal(tokens[b - 1].norm)
                             or (tokens[b - 1].kind == "punct" and tokens[b - 1].text == "-")
                             or tokens[b - 1].norm in ("й", "ой", "ая", "я")):
                b -= 1
            if b < i:
                spans.append(Span(b, i + 1, "school"))
        return spans

    def _name_spans(self, tokens: Sequence[Token], text: str) -> list[Span]:
        flagged = [False] * len(tokens)
        for i, tok in enumerate(tokens):
            if tok.kind != "word" or tok.text in _PLACEHOLDER_WORDS:
                continue
            score = name_score(tok.norm)
            cue = i > 0 and (tokens[i - 1].norm in _NAME_CUES
                             or (i > 1 and tokens[i - 2].norm in _NAME_CUES and flagged[i - 1]))
            if score >= 0.25 or (cue and (score > 0 or not _morph().word_is_known(tok.norm)
                                          or tok.text[:1].isupper())):
                flagged[i] = True
        if self._ner is not None:
            for i in self._ner_tokens(tokens, text, flagged):
                flagged[i] = True
        spans, i = [], 0
        while i < len(tokens):
            if flagged[i]:
                j = i
                while j < len(tokens) and flagged[j]:
                    j += 1
                spans.append(Span(i, j, "name"))
                i = j
            else:
                i += 1
        return spans

    def _ner_tokens(self, tokens: Sequence[Token], text: str, flagged: list[bool]) -> set[int]:
        """Tokens inside natasha's PER spans; lower-case text is first capitalised where names may be."""
        from natasha import Doc

        lower = not any(c.isupper() for c in text)
        if lower:
            candidates = [i for i, t in enumerate(tokens)
                          if flagged[i] or (t.kind == "word" and name_score(t.norm) > 0)]
            if not candidates:
                return set()
            chars = list(text)
            for i in candidates:
                chars[tokens[i].start] = chars[tokens[i].start].upper()
            text = "".join(chars)
        doc = Doc(text)
        with self._lock:
            doc.segment(self._segmenter)
            doc.tag_ner(self._ner)
        found = set()
        for span in doc.spans:
            if span.type != "PER":
                continue
            for i, t in enumerate(tokens):
                if t.kind == "word" and t.start < span.stop and t.end > span.start:
                    found.add(i)
        return found

    # -- public API -------------------------------------------------------------------------------

    def find(self, tokens: Sequence[Token], text: str) -> list[Span]:
        """Non-overlapping spans of personal data, in order."""
        candidates = (self._regex_spans(tokens) + self._email_spans(tokens) + self._phone_spans(tokens)
                      + self._address_spans(tokens) + self._school_spans(tokens) + self._name_spans(tokens, text))
        candidates.sort(key=lambda s: (_PRIORITY[s.kind], -(s.end - s.start), s.start))
        taken = [False] * len(tokens)
        chosen = []
        for s in candidates:
            if any(taken[s.start:s.end]):
                continue
            for k in range(s.start, s.end):
                taken[k] = True
            chosen.append(s)
        return sorted(chosen, key=lambda s: s.start)

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        """Redacted text (punctuation and spacing outside the spans kept) and counts per type."""
        tokens = tokenize(text)
        spans = self.find(tokens, text)
        counts = dict.fromkeys(TYPES, 0)
        out, pos = [], 0
        for s in spans:
            out.append(text[pos:tokens[s.start].start])
            out.append(PLACEHOLDERS[s.kind])
            pos = tokens[s.end - 1].end
            counts[s.kind] += 1
        out.append(text[pos:])
        return "".join(out), counts

    def redact_words(self, words: Sequence[str]) -> tuple[list[tuple[int, int, str]], dict[str, int]]:
        """Spans (first word, last word exclusive, placeholder) over recognised words, and counts."""
        text = " ".join(words)
        tokens, offset = [], 0
        for w in words:  # one token per recognised word
            tokens.append(Token(w, offset, offset + len(w), "num" if w.isdigit() else "word"))
            offset += len(w) + 1
        counts = dict.fromkeys(TYPES, 0)
        result = []
        for s in self.find(tokens, text):
            result.append((s.start, s.end, PLACEHOLDERS[s.kind]))
            counts[s.kind] += 1
        return result, counts

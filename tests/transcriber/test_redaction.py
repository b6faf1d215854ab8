"""Redaction: rules, dictionary and natasha on written and speech-recognition text; recall on the labelled sets."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpline_transcriber.pipeline import redact_words
from helpline_transcriber.recognition import Word
from helpline_transcriber.redaction import Redactor
from helpline_transcriber.segments import build_segments
from tests.transcriber import redaction_eval


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def test_transcript_words_lose_names_and_spoken_phone_numbers(redactor):
    spoken = ("меня зовут маша петрова мой телефон восемь девятьсот шестнадцать сто двадцать три "
              "сорок пять шестьдесят семь и я учусь в школе номер пять").split()
    words = [Word(w, i * 0.5, i * 0.5 + 0.4, 0.9) for i, w in enumerate(spoken)]
    redacted, counts = redact_words(redactor, words)
    text = " ".join(w.word for w in redacted)
    assert text == "меня зовут [ИМЯ] мой телефон [ТЕЛЕФОН] и я учусь в [ШКОЛА]"
    assert counts == {"name": 1, "phone": 1, "email": 0, "address": 0, "school": 1}
    phone = redacted[5]
    assert (phone.start, phone.end) == (words[6].start, words[15].end)  # times of the span are kept
    segments = build_segments({"caller": redacted})
    assert "маша" not in " ".join(s.text for s in segments) and "девятьсот" not in segments[0].text


def test_written_forms(redactor):
    text, counts = redactor.redact_text(
        "Меня зовут Маша Ковальчук, мой телефон +7 (916) 123-45-67, почта masha.k@mail.ru, "
        "живу на ул. Гагарина, д. 15, кв. 3, учусь в гимназии № 5.")
    assert text == ("Меня зовут [ИМЯ], мой телефон [ТЕЛЕФОН], почта [EMAIL], живу на [АДРЕС], "
                    "учусь в [ШКОЛА].")
    assert counts == {"name": 1, "phone": 1, "email": 1, "address": 1, "school": 1}


def test_ordinary_numbers_and_words_stay(redactor):
    for text in ("мне четырнадцать лет и в классе двадцать пять человек",
                 "позвоню завтра в семь вечера", "родители ругаются а я боюсь идти домой"):
        assert redactor.redact_text(text)[0] == text


def test_recall_on_the_labelled_sets(redactor):
    report = redaction_eval.report(redactor)
    floors = {"written": 0.9, "written_lower_no_punct": 0.85, "asr_style": 0.85}
    for view, floor in floors.items():
        for kind, recall in report[view]["recall"].items():
            assert recall is None or recall >= floor, (view, kind, recall)
        assert report[view]["over_redaction_rate"] < 0.05, view


def test_cli_redact_is_one_line_in_one_line_out():
    lines = "меня зовут саша\nвсе хорошо\n\nмой номер восемь девятьсот один два три четыре пять шесть семь\n"
    out = subprocess.run([sys.executable, "-c", "from helpline_common.cli import main; main()", "redact"],
                         input=lines, capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.splitlines() == ["меня зовут [ИМЯ]", "все хорошо", "", "мой номер [ТЕЛЕФОН]"]

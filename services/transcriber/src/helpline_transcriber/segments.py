"""Words of each speaker → segments split on pauses and on turns, ordered by time."""

from __future__ import annotations

from dataclasses import dataclass

from helpline_transcriber.recognition import Word


@dataclass
class Segment:
    speaker: str  # "caller", "counselor" or "unknown"
    words: list[Word]

    @property
    def start(self) -> float:
        return self.words[0].start

    @property
    def end(self) -> float:
        return max(w.end for w in self.words)

    @property
    def text(self) -> str:
        return " ".join(w.word for w in self.words)

    @property
    def confidence(self) -> float:
        return sum(w.conf for w in self.words) / len(self.words)


def build_segments(words_by_speaker: dict[str, list[Word]], pause_s: float = 0.8,
                   max_segment_s: float = 30.0) -> list[Segment]:
    """Split each speaker's words where they pause, where the other side starts a word in between
    (a turn), or when a segment grows past `max_segment_s`; then order all segments by start."""
    starts_by_speaker = {s: sorted(w.start for w in ws) for s, ws in words_by_speaker.items()}
    segments: list[Segment] = []
    for speaker, words in words_by_speaker.items():
        words = sorted(words, key=lambda w: (w.start, w.end))
        others = sorted(t for s, ts in starts_by_speaker.items() if s != speaker for t in ts)
        current: list[Word] = []
        j = 0
        for w in words:
            if current:
                prev = current[-1]
                while j < len(others) and others[j] <= prev.end:
                    j += 1
                turn = j < len(others) and others[j] < w.start
                if turn or w.start - prev.end > pause_s or w.end - current[0].start > max_segment_s:
                    segments.append(Segment(speaker, current))
                    current = []
            current.append(w)
        if current:
            segments.append(Segment(speaker, current))
    segments.sort(key=lambda s: (s.start, s.end, s.speaker))
    return segments

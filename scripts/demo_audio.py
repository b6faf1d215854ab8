"""Synthetic stereo calls in Russian from written dialogues, with espeak-ng and sox.

Caller on channel 0 (a higher voice), counselor on channel 1; the other channel is silent while one
side speaks, with natural pauses between turns. Used by `make run` (and usable by benchmarks).
"""

from __future__ import annotations

import random
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

RATE = 16000
VOICES = {"caller": ["-v", "ru+f3", "-p", "70", "-s", "165"], "counselor": ["-v", "ru", "-p", "40", "-s", "150"]}


def speak(text: str, speaker: str) -> np.ndarray:
    """One turn as 16 kHz int16 samples."""
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = Path(tmp, "raw.wav"), Path(tmp, "out.wav")
        subprocess.run(["espeak-ng", *VOICES[speaker], "-w", str(raw), text], check=True, capture_output=True)
        subprocess.run(["sox", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(out)], check=True,
                       capture_output=True)
        with wave.open(str(out)) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def build_call(turns: list[tuple[str, str]], path: Path, seed: int = 0) -> float:
    """Write a stereo WAV of the dialogue; returns its duration in seconds."""
    rng = random.Random(seed)
    channels = {"caller": [], "counselor": []}
    for speaker, text in turns:
        pause = np.zeros(int(RATE * rng.uniform(0.4, 1.1)), dtype=np.int16)
        speech = speak(text, speaker)
        for side, parts in channels.items():
            parts.append(pause)
            parts.append(speech if side == speaker else np.zeros_like(speech))
    caller, counselor = (np.concatenate(channels[s]) for s in ("caller", "counselor"))
    stereo = np.stack([caller, counselor], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(stereo.tobytes())
    return len(stereo) / RATE

"""A synthetic corpus of stereo helpline calls for the transcription benchmark.

Two espeak-ng voices (Korean, so that the Korean test model does real decoding work) take turns on
two channels with realistic pauses and short back-channel replies; each channel carries only line
noise while the other side speaks. Saved once under bench/corpus/ (gitignored) and reused.

Line noise: real telephone channels are never digitally silent, and Kaldi decodes digital zero almost
for free, which flatters any decoder fed whole channels. Every channel therefore gets a low, steady
noise floor (`line_noise`): pink plus brown noise at -45 to -35 dBFS RMS and a little mains hum (50 Hz
and odd harmonics, 10-15 dB below the noise), different per channel and per call, from a seeded
generator (the corpus is deterministic).

    python -m bench.corpus_tools            # build (or check) the corpus
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile

CORPUS_DIR = Path(__file__).parent / "corpus"
CLEAN_DIR = CORPUS_DIR / "digital-silence"  # the first calls again, without line noise
VERSION = 3  # 3: line noise on every channel
RATE = 16000  # synthesis rate; calls are stored as telephony audio: 8 kHz, G.711 μ-law, stereo
CALL_RATE = 8000

CALLER_LINES = [
    "안녕하세요 저는 중학교에 다니는 학생인데요", "요즘 학교에서 친구들이 저를 자꾸 놀려요",
    "엄마한테 말하고 싶은데 무서워서 못 하겠어요", "어제는 수업 시간에 울어 버렸어요",
    "선생님은 제 이야기를 잘 안 들어 주세요", "집에 가면 동생이랑 자주 싸워요",
    "밤에 잠을 잘 못 자고 계속 생각이 나요", "친구 한 명이 있었는데 이제는 저랑 말을 안 해요",
    "시험 성적이 떨어져서 아빠가 화를 많이 냈어요", "가끔은 아무도 저를 이해하지 못하는 것 같아요",
    "그냥 누군가한테 말하고 싶었어요", "네 맞아요 그런 것 같아요", "잘 모르겠어요 조금 생각해 볼게요",
    "학원에 가기 싫은데 엄마가 꼭 가라고 해요", "휴대폰을 빼앗겨서 친구들이랑 연락을 못 해요",
]
COUNSELOR_LINES = [
    "안녕하세요 아동 상담 전화입니다 무슨 일이 있었는지 이야기해 줄래요",
    "전화해 줘서 정말 고마워요", "그런 일이 있었군요 많이 힘들었겠어요",
    "지금 이야기해 준 것은 아주 용기 있는 일이에요", "그때 기분이 어땠는지 조금 더 말해 줄 수 있어요",
    "믿을 수 있는 어른이 주변에 있나요", "학교 상담 선생님과 이야기해 본 적이 있어요",
    "혼자서 다 견디지 않아도 괜찮아요", "우리 같이 방법을 찾아봐요", "지금은 안전한 곳에 있나요",
    "언제든지 다시 전화해도 돼요", "오늘 이야기를 정리해 볼까요",
]
BACKCHANNEL = ["네", "음", "그렇군요", "네 네"]
CALLER_VOICE = ("ko+f2", 165, 60)  # voice, words per minute, pitch
COUNSELOR_VOICE = ("ko+m3", 150, 35)


def _say(text: str, voice: tuple[str, int, int], tmp: Path) -> np.ndarray:
    out = tmp / "u.wav"
    name, speed, pitch = voice
    subprocess.run(["espeak-ng", "-v", name, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                   check=True, capture_output=True)
    res = tmp / "r.wav"
    subprocess.run(["sox", str(out), "-r", str(RATE), "-c", "1", "-b", "16", str(res)], check=True,
                   capture_output=True)
    data, _ = soundfile.read(res, dtype="float32")
    return data


def _call(rng: random.Random, seconds: float, tmp: Path) -> tuple[np.ndarray, np.ndarray, dict]:
    """Two channels (caller, counselor) of about `seconds` with turn-taking."""
    total = int((seconds + 20) * RATE)
    ch = [np.zeros(total, dtype=np.float32), np.zeros(total, dtype=np.float32)]
    speech = [[], []]
    text = [[], []]
    t = rng.uniform(0.3, 1.0)
    speaker = 1  # the counselor answers the phone
    while t < seconds:
        lines = COUNSELOR_LINES if speaker else CALLER_LINES
        voice = COUNSELOR_VOICE if speaker else CALLER_VOICE
        for k in range(rng.choice((1, 1, 2, 2, 3))):
            line = rng.choice(lines)
            u = _say(line, voice, tmp)
            text[speaker].append(line)
            start = int(t * RATE)
            ch[speaker][start:start + len(u)] += u[:total - start]
            speech[speaker].append((round(t, 3), round(t + len(u) / RATE, 3)))
            if speaker == 0 and k == 0 and rng.random() < 0.3:  # a back-channel «네» over the caller
                back = rng.choice(BACKCHANNEL)
                b = _say(back, COUNSELOR_VOICE, tmp)
                text[1].append(back)
                bs = start + int(len(u) * rng.uniform(0.4, 0.8))
                ch[1][bs:bs + len(b)] += b[:total - bs]
                speech[1].append((round(bs / RATE, 3), round((bs + len(b)) / RATE, 3)))
            t += len(u) / RATE + rng.uniform(0.2, 0.7)
        t += rng.uniform(0.3, 1.5)  # pause before the other side answers
        speaker = 1 - speaker
    end = int(t * RATE)
    return ch[0][:end], ch[1][:end], {"speech": speech, "text": text}


def line_noise(n: int, rate: int, rng: np.random.Generator, level_dbfs: float,
               hum_db_below: float = 12.0) -> np.ndarray:
    """`n` samples of telephone-line noise: pink + brown noise at `level_dbfs` RMS plus mains hum."""
    white = rng.standard_normal(n)
    spectrum = np.fft.rfft(white)
    f = np.fft.rfftfreq(n, 1 / rate)
    f[0] = f[1]
    pink = np.fft.irfft(spectrum / np.sqrt(f), n)
    brown = np.fft.irfft(spectrum / np.maximum(f, 20.0), n)  # 1/f^2 power, floored at 20 Hz (no DC drift)
    noise = pink / np.std(pink) + 0.5 * brown / np.std(brown)
    noise /= np.std(noise)
    t = np.arange(n) / rate
    phase = rng.uniform(0, 2 * np.pi, 3)
    hum = sum(np.sin(2 * np.pi * 50 * k * t + p) / k for k, p in zip((1, 3, 5), phase, strict=True))
    hum /= np.std(hum)
    rms = 10 ** (level_dbfs / 20)
    return (rms * (noise + 10 ** (-hum_db_below / 20) * hum)).astype(np.float32)


def _to_call_rate(x: np.ndarray) -> np.ndarray:
    from scipy.signal import resample_poly

    return np.clip(resample_poly(x, CALL_RATE, RATE), -1, 1).astype(np.float32)


def build(n_calls: int = 8, min_s: float = 120, max_s: float = 170, seed: int = 7,
          corpus_dir: Path = CORPUS_DIR, noise: bool = True) -> dict:
    """Build the corpus unless a matching one exists; returns its manifest. `noise=False` leaves the
    pauses digitally silent (only to show what that does to a decoder; see bench/README.md)."""
    manifest_path = corpus_dir / "manifest.json"
    wanted = {"version": VERSION, "n_calls": n_calls, "seed": seed, "min_s": min_s, "max_s": max_s,
              "noise": noise}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("params") == wanted and all((corpus_dir / c["stereo"]).exists() for c in manifest["calls"]):
            return manifest
    for sub in ("stereo", "mono", "excerpts"):
        (corpus_dir / sub).mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    calls = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(n_calls):
            caller, counselor, info = _call(rng, rng.uniform(min_s, max_s), Path(tmp))
            a, b = _to_call_rate(caller), _to_call_rate(counselor)
            noise_rng = np.random.default_rng([seed, i])
            levels = noise_rng.uniform(-45, -35, 2)
            if noise:
                a = np.clip(a + line_noise(len(a), CALL_RATE, noise_rng, levels[0], noise_rng.uniform(10, 15)), -1, 1)
                b = np.clip(b + line_noise(len(b), CALL_RATE, noise_rng, levels[1], noise_rng.uniform(10, 15)), -1, 1)
            stereo = np.stack([a, b], axis=1)
            name = f"call-{i:02d}"
            soundfile.write(corpus_dir / "stereo" / f"{name}.wav", stereo, CALL_RATE, subtype="ULAW")
            soundfile.write(corpus_dir / "mono" / f"{name}.wav", np.clip(a + b, -1, 1), CALL_RATE, subtype="PCM_16")
            soundfile.write(corpus_dir / "excerpts" / f"{name}.wav", stereo[:60 * CALL_RATE], CALL_RATE,
                            subtype="ULAW")
            duration = len(a) / CALL_RATE
            share = [sum(e - s for s, e in sp) / duration for sp in info["speech"]]
            calls.append({"name": name, "stereo": f"stereo/{name}.wav", "mono": f"mono/{name}.wav",
                          "excerpt": f"excerpts/{name}.wav", "duration_s": round(duration, 2),
                          "speech_share": [round(s, 3) for s in share], "speech": info["speech"],
                          "text": [" ".join(t) for t in info["text"]],
                          "noise_dbfs": [round(float(v), 1) for v in levels] if noise else None})
    manifest = {"params": wanted, "calls": calls}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def _cli() -> None:
    manifest = build()
    total = sum(c["duration_s"] for c in manifest["calls"])
    print(f"{len(manifest['calls'])} calls, {total:.0f} s in {CORPUS_DIR}")


if __name__ == "__main__":
    _cli()

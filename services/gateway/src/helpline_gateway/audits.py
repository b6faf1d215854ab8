"""Audits: sampling, then transcription and scoring of every sampled call, with state in the store.

Nothing is lost: the request, the manifest (with its seed) and every call's state are written to the
store before they are acknowledged or acted on, so a gateway restart resumes an audit where it was.
Only one replica works on an audit at a time: it holds a lease object (`lease.json`) written with a
conditional PUT and renewed while it works; a replica that dies simply stops renewing, and after the
lease expires any replica takes the audit over (`resume_unfinished`, run at start and periodically).

Per call: transcribe by object reference (reused when this recording was already transcribed by this
speech model), score (reused for the same scorer model version), write a result record for reports.
UNAVAILABLE / DEADLINE_EXCEEDED are retried; a call that keeps failing is marked failed with its
reason and the audit still completes.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import grpc
from google.protobuf import json_format

from helpline.common.v1 import transcript_pb2
from helpline.gateway.v1 import audit_pb2
from helpline.scorer.v1 import scorer_pb2
from helpline.transcriber.v1 import transcriber_pb2
from helpline_common import layout
from helpline_common.client import RETRYABLE, ServiceClient
from helpline_common.errors import Aborted, HelplineError, NotFound, Unavailable
from helpline_common.storage import ObjectStore
from helpline_gateway import reports, sampling

log = logging.getLogger(__name__)

FINAL_STATES = frozenset({audit_pb2.AUDIT_STATE_SUCCEEDED, audit_pb2.AUDIT_STATE_FAILED,
                          audit_pb2.AUDIT_STATE_CANCELLED})
OUTCOMES = {scorer_pb2.CRITERION_OUTCOME_MET: "met", scorer_pb2.CRITERION_OUTCOME_NOT_MET: "not_met",
            scorer_pb2.CRITERION_OUTCOME_NOT_APPLICABLE: "not_applicable"}
MAX_BUSY_WAITS = 200  # about half an hour of a fully busy transcriber before a call counts as failed
BANDS = {scorer_pb2.BAND_HIGH: "high", scorer_pb2.BAND_MEDIUM: "medium", scorer_pb2.BAND_LOW: "low"}


def new_audit_id() -> str:
    return f"{dt.datetime.now(dt.timezone.utc):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


class AuditRepository:
    """Reading and writing an audit's objects."""

    def __init__(self, store: ObjectStore):
        self.store = store

    def save(self, audit: audit_pb2.Audit) -> None:
        audit.updated_at.GetCurrentTime()
        self.store.put_json(layout.audit_key(audit.audit_id, "audit.json"), json_format.MessageToDict(audit))

    def load(self, audit_id: str) -> audit_pb2.Audit:
        if not audit_id or "/" in audit_id:
            raise NotFound("no such audit")
        try:
            data = self.store.get_json(layout.audit_key(audit_id, "audit.json"))
        except NotFound:
            raise NotFound(f"no audit {audit_id}") from None
        return json_format.ParseDict(data, audit_pb2.Audit())

    def ids(self) -> list[str]:
        """Audit ids, newest first (ids start with their creation time)."""
        prefixes = self.store.list_keys("audits/", recursive=False)
        return sorted((p.removeprefix("audits/").rstrip("/") for p in prefixes), reverse=True)

    def save_manifest(self, audit_id: str, seed: int, eligible: dict[str, int],
                      sample: list[sampling.Candidate]) -> None:
        self.store.put_json(layout.audit_key(audit_id, "manifest.json"), {
            "seed": seed, "eligible_calls": eligible, "calls": [c.to_json() for c in sample]})

    def manifest(self, audit_id: str) -> list[sampling.Candidate] | None:
        try:
            data = self.store.get_json(layout.audit_key(audit_id, "manifest.json"))
        except NotFound:
            return None
        return [sampling.Candidate.from_json(c) for c in data["calls"]]

    def save_call(self, audit_id: str, call_id: str, state: dict) -> None:
        self.store.put_json(layout.audit_key(audit_id, f"calls/{call_id}.json"), state)

    def call(self, audit_id: str, call_id: str) -> dict | None:
        try:
            return self.store.get_json(layout.audit_key(audit_id, f"calls/{call_id}.json"))
        except NotFound:
            return None

    def cancel_requested(self, audit_id: str) -> bool:
        return self.store.exists(layout.audit_key(audit_id, "cancel.json"))

    def request_cancel(self, audit_id: str, by: str) -> None:
        self.store.put_json(layout.audit_key(audit_id, "cancel.json"),
                            {"by": by, "at": dt.datetime.now(dt.timezone.utc).isoformat()})


class Lease:
    """Exclusive right of one gateway replica to work on one audit."""

    def __init__(self, store: ObjectStore, audit_id: str, holder: str, ttl_s: float):
        self.store, self.key, self.holder, self.ttl_s = store, layout.audit_key(audit_id, "lease.json"), holder, ttl_s
        self.etag: str | None = None

    def _body(self) -> dict:
        return {"holder": self.holder, "expires_at": time.time() + self.ttl_s}

    def acquire(self) -> bool:
        try:
            current, etag = self.store.get_json_with_etag(self.key)
        except NotFound:
            current, etag = None, None
        if current is not None and current["holder"] != self.holder and current["expires_at"] > time.time():
            return False
        try:
            self.etag = self.store.put_json_conditional(self.key, self._body(), if_match=etag)
        except Aborted:
            return False  # another replica was quicker
        return True

    def renew(self) -> bool:
        try:
            self.etag = self.store.put_json_conditional(self.key, self._body(), if_match=self.etag)
        except Aborted:
            return False
        return True

    def release(self) -> None:
        try:
            self.store.put_json_conditional(self.key, {"holder": "", "expires_at": 0}, if_match=self.etag)
        except HelplineError:
            pass  # it expires anyway


class CallFailed(Exception):
    """A call could not be processed; `reason` is safe to store and show."""

    def __init__(self, reason: str, retryable: bool, busy: bool = False):
        super().__init__(reason)
        self.reason, self.retryable, self.busy = reason, retryable, busy


class AuditEngine:
    """Runs audits in background threads of this replica."""

    def __init__(self, store: ObjectStore, transcriber: ServiceClient, scorer: ServiceClient, *,
                 parallelism: int = 4, lease_ttl_s: float = 30.0, call_attempts: int = 3,
                 retry_delay_s: float = 2.0, on_finished: Callable[[audit_pb2.Audit], None] | None = None):
        self.store, self.repo = store, AuditRepository(store)
        self.transcriber, self.scorer = transcriber, scorer
        self.holder = f"gateway-{uuid.uuid4().hex[:12]}"
        self.lease_ttl_s, self.call_attempts, self.retry_delay_s = lease_ttl_s, call_attempts, retry_delay_s
        self.on_finished = on_finished
        self.call_slots = threading.BoundedSemaphore(parallelism)
        self.parallelism = parallelism
        self._running: dict[str, threading.Event] = {}  # audit id → cancel/stop event
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    # -- control -------------------------------------------------------------------------------

    def submit(self, audit_id: str) -> bool:
        """Start working on an audit in the background if no replica holds it; False if busy."""
        with self._lock:
            if audit_id in self._running or self._stopping.is_set():
                return False
            lease = Lease(self.store, audit_id, self.holder, self.lease_ttl_s)
            if not lease.acquire():
                return False
            stop = threading.Event()
            self._running[audit_id] = stop
        threading.Thread(target=self._run, args=(audit_id, lease, stop), name=f"audit-{audit_id}",
                         daemon=True).start()
        return True

    def resume_unfinished(self) -> list[str]:
        """Take over unfinished audits whose lease is free or expired."""
        resumed = []
        for audit_id in self.repo.ids():
            try:
                audit = self.repo.load(audit_id)
            except NotFound:
                continue  # a half-created audit without audit.json is not visible and not resumed
            if audit.state not in FINAL_STATES and self.submit(audit_id):
                resumed.append(audit_id)
        if resumed:
            log.info("resumed audits", extra={"count": len(resumed)})
        return resumed

    def cancel(self, audit_id: str, by: str) -> None:
        self.repo.request_cancel(audit_id, by)
        with self._lock:
            stop = self._running.get(audit_id)
        if stop is not None:
            stop.set()

    def shutdown(self, timeout_s: float = 10.0) -> None:
        """Stop taking work, let running calls finish, release leases (another replica resumes)."""
        self._stopping.set()
        with self._lock:
            events = list(self._running.values())
        for stop in events:
            stop.set()
        deadline = time.monotonic() + timeout_s
        while self._running and time.monotonic() < deadline:
            time.sleep(0.05)

    def is_running(self, audit_id: str) -> bool:
        with self._lock:
            return audit_id in self._running

    # -- work ----------------------------------------------------------------------------------

    def _run(self, audit_id: str, lease: Lease, stop: threading.Event) -> None:
        renewer_stop = threading.Event()
        lost = threading.Event()

        def renew_loop():
            while not renewer_stop.wait(self.lease_ttl_s / 3):
                if not lease.renew():
                    log.warning("lost audit lease", extra={"audit_id": audit_id})
                    lost.set()
                    stop.set()
                    return

        renewer = threading.Thread(target=renew_loop, name=f"lease-{audit_id}", daemon=True)
        renewer.start()
        try:
            self._work(audit_id, stop, lost)
        except HelplineError as exc:
            log.warning("audit interrupted; it will be resumed", extra={"audit_id": audit_id,
                                                                        "error": type(exc).__name__})
            self._note_waiting(audit_id, str(exc))
        except Exception:
            log.exception("audit crashed; it will be resumed", extra={"audit_id": audit_id})
        finally:
            renewer_stop.set()
            renewer.join()
            if not lost.is_set():
                lease.release()
            with self._lock:
                self._running.pop(audit_id, None)

    def _note_waiting(self, audit_id: str, why: str) -> None:
        """Say on the audit why it is not moving, for the people following it (not only in the log)."""
        try:
            audit = self.repo.load(audit_id)
            if audit.state not in FINAL_STATES and audit.waiting_for != why:
                audit.waiting_for = why
                self.repo.save(audit)
        except HelplineError:
            pass  # the store is away too: the log above says why

    def _work(self, audit_id: str, stop: threading.Event, lost: threading.Event) -> None:
        audit = self.repo.load(audit_id)
        if audit.state in FINAL_STATES:
            return
        if self.repo.cancel_requested(audit_id):  # also while the transcriber or scorer is away
            audit.state = audit_pb2.AUDIT_STATE_CANCELLED
            self.repo.save(audit)
            return
        sample = self.repo.manifest(audit_id)
        if sample is None:
            sample = self._sample(audit)
        if audit.state == audit_pb2.AUDIT_STATE_PENDING:
            audit.state = audit_pb2.AUDIT_STATE_RUNNING
            self.repo.save(audit)
        models = self._model_identities()
        if audit.waiting_for:
            audit.waiting_for = ""
            self.repo.save(audit)
        started = time.monotonic()
        states = {c.call_id: (self.repo.call(audit_id, c.call_id) or {"state": "pending"}) for c in sample}
        todo = [c for c in sample if states[c.call_id]["state"] not in ("scored", "failed")]
        regions = {c.call_id: c.region for c in sample}
        progress_lock = threading.Lock()

        def process(candidate: sampling.Candidate) -> None:
            if not stop.is_set() and self.repo.cancel_requested(audit_id):
                stop.set()  # cancelled through another replica
            if stop.is_set():
                return
            with self.call_slots:
                if stop.is_set():
                    return
                state = self._process_call(audit_id, candidate, models, stop)
            if state is None:
                return
            with progress_lock:
                states[candidate.call_id] = state
                self._update_progress(audit, states, started, len(todo), regions)
                if not lost.is_set():
                    self.repo.save(audit)

        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix=f"calls-{audit_id}") as pool:
            list(pool.map(process, todo))
        if lost.is_set():
            return
        if self.repo.cancel_requested(audit_id):
            audit.state = audit_pb2.AUDIT_STATE_CANCELLED
        elif stop.is_set():
            return  # shutting down: leave it RUNNING, another replica (or this one after restart) resumes
        else:
            audit.state = audit_pb2.AUDIT_STATE_SUCCEEDED
        self._update_progress(audit, states, started, len(todo), regions)
        self.repo.save(audit)
        log.info("audit finished", extra={"audit_id": audit_id, "state": audit_pb2.AuditState.Name(audit.state),
                                          "done": audit.progress.done_calls, "failed": audit.progress.failed_calls})
        if self.on_finished is not None and audit.state == audit_pb2.AUDIT_STATE_SUCCEEDED:
            self.on_finished(audit)

    def _sample(self, audit: audit_pb2.Audit) -> list[sampling.Candidate]:
        first, last = reports.period_dates(audit.period)
        regions = list(audit.region_codes)
        plan = audit.sampling
        size = sampling.SampleSize(calls_per_region=plan.calls_per_region) if plan.HasField("calls_per_region") \
            else sampling.SampleSize(margin=plan.margin_of_error.margin, confidence=plan.margin_of_error.confidence)
        candidates = sampling.list_candidates(self.store, regions, first, last)
        sample, eligible = sampling.draw(candidates, size, plan.seed, plan.min_duration.ToTimedelta().total_seconds(),
                                         regions, first, last)
        self.repo.save_manifest(audit.audit_id, plan.seed, eligible, sample)
        audit.eligible_calls.update(eligible)
        self._update_progress(audit, {c.call_id: {"state": "pending"} for c in sample}, time.monotonic(), 0,
                              {c.call_id: c.region for c in sample})
        return sample

    def _model_identities(self) -> dict:
        """Which speech and scorer models will do the work: "speech" and "scorer" are part of the key of
        reusable results; the speech model's name and language go into each result, for the reports."""
        def model_info(name, client, request):
            try:
                return client.call("GetModelInfo", request, timeout=10).model
            except grpc.RpcError as exc:
                raise Unavailable(f"the {name} is unavailable ({exc.code().name}); the audit goes on when it is "
                                  "back") from None

        speech = model_info("transcriber", self.transcriber, transcriber_pb2.GetModelInfoRequest())
        scorer = model_info("scorer", self.scorer, scorer_pb2.GetModelInfoRequest())
        return {"speech": speech.sha256 or speech.name, "scorer": scorer.version or "unversioned",
                "speech_model": {"name": speech.name, "lang": speech.lang}}

    @staticmethod
    def _update_progress(audit: audit_pb2.Audit, states: dict[str, dict], started: float, todo: int,
                         regions: Mapping[str, str]) -> None:
        """Counters of the whole audit and of each region (`regions`: call id → region)."""
        _count_calls(audit.progress, [s["state"] for s in states.values()])
        by_region: dict[str, list[str]] = {}
        for call_id, s in states.items():
            by_region.setdefault(regions[call_id], []).append(s["state"])
        audit.progress_by_region.clear()
        for region, region_states in by_region.items():
            _count_calls(audit.progress_by_region[region], region_states)
        p = audit.progress
        remaining = p.remaining_calls
        finished_now = todo - remaining
        if finished_now > 0 and remaining > 0:
            per_call = (time.monotonic() - started) / finished_now
            p.estimated_remaining.FromTimedelta(dt.timedelta(seconds=per_call * remaining))
        else:
            p.estimated_remaining.Clear()

    def _process_call(self, audit_id: str, c: sampling.Candidate, models: dict,
                      stop: threading.Event) -> dict | None:
        """Transcribe and score one call with retries; returns its final state, or None if stopped.

        A busy service (RESOURCE_EXHAUSTED) is back-pressure, not failure: wait and ask again without
        using up an attempt (up to MAX_BUSY_WAITS times). Other retryable errors use up attempts.
        """
        state: dict = {"state": "pending", "attempts": 0}
        attempts = busy_waits = 0
        while True:
            try:
                score = self._transcribe_and_score(c, models)
                result = result_record(audit_id, c, score, models["speech_model"])
            except KeyError:
                state.update(state="failed", failure_reason="the scorer returned an incomplete score")
            except CallFailed as exc:
                if exc.busy and busy_waits < MAX_BUSY_WAITS:
                    busy_waits += 1
                    if stop.wait(min(10.0, 0.25 * 2 ** min(busy_waits, 6)) * (0.5 + random.random())):
                        return None
                    continue
                attempts += 1
                state.update(state="failed", failure_reason=exc.reason, attempts=attempts)
                if exc.retryable and attempts < self.call_attempts:
                    if stop.wait(self.retry_delay_s * attempts):
                        return None
                    continue
            else:
                self.store.put_json(layout.result_key(c.region, c.call_start, c.call_id), result)
                state = {"state": "scored", "attempts": attempts + 1, "score": score.score,
                         "transcript_key": layout.transcript_key(c.sha256, models["speech"]),
                         "score_key": layout.score_key(c.sha256, models["scorer"])}
            break
        if state["state"] == "failed":
            self.store.put_json(layout.result_key(c.region, c.call_start, c.call_id), {
                "call_id": c.call_id, "region_code": c.region, "audit_id": audit_id, "status": "failed",
                "call_start": c.call_start.isoformat(), "failure_reason": state["failure_reason"]})
            log.info("call failed", extra={"audit_id": audit_id, "reason": state["failure_reason"][:120]})
        self.repo.save_call(audit_id, c.call_id, state)
        return state

    def _transcribe_and_score(self, c: sampling.Candidate, models: dict) -> scorer_pb2.CallScore:
        transcript_key = layout.transcript_key(c.sha256, models["speech"])
        score_key = layout.score_key(c.sha256, models["scorer"])
        try:
            if self.store.exists(score_key):
                return json_format.ParseDict(self.store.get_json(score_key), scorer_pb2.CallScore())
            if self.store.exists(transcript_key):
                transcript = json_format.ParseDict(self.store.get_json(transcript_key), transcript_pb2.Transcript())
            else:
                request = transcriber_pb2.TranscribeRecordingRequest(object_key=c.recording_key)
                transcript = self.transcriber.call("TranscribeRecording", request,
                                                   timeout=60 + 2 * c.duration_s).transcript
                self.store.put_json(transcript_key, json_format.MessageToDict(transcript))
            score = self.scorer.call("Score", scorer_pb2.ScoreRequest(transcript=transcript), timeout=60).score
            self.store.put_json(score_key, json_format.MessageToDict(score))
            return score
        except grpc.RpcError as exc:
            raise CallFailed(f"{exc.code().name}: {exc.details()}", exc.code() in RETRYABLE,
                             busy=exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED) from None
        except HelplineError as exc:  # the store: Unavailable is worth another try
            raise CallFailed(f"{exc.code.name}: {exc}", exc.code in RETRYABLE) from None


def _count_calls(progress: audit_pb2.AuditProgress, states: Sequence[str]) -> None:
    """Set total, done (scored), failed and remaining from the calls' states."""
    progress.total_calls = len(states)
    progress.done_calls = states.count("scored")
    progress.failed_calls = states.count("failed")
    progress.remaining_calls = progress.total_calls - progress.done_calls - progress.failed_calls


def result_record(audit_id: str, c: sampling.Candidate, score: scorer_pb2.CallScore,
                  speech_model: dict[str, str]) -> dict:
    """What reports need of a scored call: numbers, outcomes and time offsets — never text — and which speech
    model made the transcript (`{"name", "lang"}`)."""
    criteria = {}
    for r in score.criteria:
        criteria[r.criterion_id] = {
            "outcome": OUTCOMES[r.outcome],  # KeyError: the scorer left an outcome unspecified
            "evidence_offsets_s": [round(e.start.ToTimedelta().total_seconds(), 2) for e in r.evidence],
        }
    m = score.measures
    return {
        "call_id": c.call_id, "region_code": c.region, "call_start": c.call_start.isoformat(), "status": "scored",
        "counselor_pseudonym": c.counselor, "audit_id": audit_id, "recording_sha256": c.sha256,
        "protocol_version": score.protocol_version, "model_version": score.model_version,
        "speech_model": speech_model, "score": round(score.score, 2), "band": BANDS[score.band],
        "critical_flags": list(score.critical_flags), "criteria": criteria,
        "measures": {"counselor_talk_share": m.counselor_talk_share, "reflection_to_question": m.reflection_to_question,
                     "open_question_share": m.open_question_share,
                     "longest_silence_s": m.longest_silence.ToTimedelta().total_seconds(),
                     "interruptions": m.interruptions, "speech_rate_wpm": m.speech_rate_wpm},
    }

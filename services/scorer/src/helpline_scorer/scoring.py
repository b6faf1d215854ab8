"""Score a call with a loaded model: codes per segment, then the protocol's criteria; JSON and proto views."""

from __future__ import annotations

from helpline_scorer.criteria import MET, NOT_APPLICABLE, NOT_MET, CallResult, critical_flags, evaluate_call
from helpline_scorer.protocol import Protocol
from helpline_scorer.registry import LoadedModel
from helpline_scorer.transcript import CALLER, COUNSELOR, Call


class Scorer:
    def __init__(self, loaded: LoadedModel, protocol: Protocol):
        self.loaded = loaded
        self.protocol = protocol

    def score(self, call: Call) -> CallResult:
        codes, probs, review = self.loaded.model.predict_call(call, self.protocol.review_threshold_factor)
        return evaluate_call(self.protocol, call, codes, probs, self.loaded.version, review_codes=review)


def to_json(result: CallResult) -> dict:
    """The `helpline-qa score` output shape (issue 4), plus `critical_tiers`: each flag of `critical` is
    "likely" when its criterion also fails on the most probable reading (listen first, as in the gateway's
    lists), else "possible" (raised by the recall-first review view only, so its criterion may say met or
    not applicable)."""
    met = {MET: True, NOT_MET: False, NOT_APPLICABLE: None}
    likely = critical_flags(result.criteria)
    return {
        "call_id": result.call_id,
        "protocol_version": result.protocol_version,
        "model_version": result.model_version,
        "score": result.score,
        "band": result.band,
        "critical": list(result.critical),
        "critical_tiers": {flag: "likely" if flag in likely else "possible" for flag in result.critical},
        "criteria": {c.criterion_id: {"met": met[c.outcome], "confidence": c.confidence,
                                      "evidence": [e.segment_index for e in c.evidence]}
                     for c in result.criteria},
        "segments": [{"index": s.index, "speaker": s.speaker, "codes": list(s.codes),
                      "probabilities": dict(s.probabilities)} for s in result.segments],
        "measures": {
            "counselor_talk_share": result.measures.counselor_talk_share,
            "reflection_to_question": result.measures.reflection_to_question,
            "open_question_share": result.measures.open_question_share,
            "longest_silence_s": result.measures.longest_silence_s,
            "interruptions": result.measures.interruptions,
            "speech_rate_wpm": result.measures.speech_rate_wpm,
        },
    }


def _duration(seconds: float):
    from google.protobuf import duration_pb2

    d = duration_pb2.Duration()
    d.FromNanoseconds(int(round(seconds * 1e9)))
    return d


def to_proto(result: CallResult):
    """helpline.scorer.v1.CallScore."""
    from helpline.common.v1 import recording_pb2
    from helpline.scorer.v1 import scorer_pb2

    outcomes = {MET: scorer_pb2.CRITERION_OUTCOME_MET, NOT_MET: scorer_pb2.CRITERION_OUTCOME_NOT_MET,
                NOT_APPLICABLE: scorer_pb2.CRITERION_OUTCOME_NOT_APPLICABLE}
    bands = {"high": scorer_pb2.BAND_HIGH, "medium": scorer_pb2.BAND_MEDIUM, "low": scorer_pb2.BAND_LOW}
    speakers = {CALLER: recording_pb2.SPEAKER_CALLER, COUNSELOR: recording_pb2.SPEAKER_COUNSELOR}
    m = result.measures
    return scorer_pb2.CallScore(
        call_id=result.call_id, protocol_version=result.protocol_version, model_version=result.model_version,
        score=result.score, band=bands.get(result.band, scorer_pb2.BAND_UNSPECIFIED),
        critical_flags=list(result.critical),
        criteria=[scorer_pb2.CriterionResult(
            criterion_id=c.criterion_id, outcome=outcomes[c.outcome], confidence=c.confidence,
            weight=c.weight, critical=c.critical_flag is not None,
            evidence=[scorer_pb2.Evidence(segment_index=e.segment_index, start=_duration(e.start),
                                          end=_duration(e.end), confidence=e.confidence) for e in c.evidence])
            for c in result.criteria],
        segments=[scorer_pb2.SegmentCodes(segment_index=s.index, speaker=speakers[s.speaker], codes=list(s.codes),
                                          probabilities=dict(s.probabilities)) for s in result.segments],
        measures=scorer_pb2.ConversationMeasures(
            counselor_talk_share=m.counselor_talk_share, reflection_to_question=m.reflection_to_question,
            open_question_share=m.open_question_share, longest_silence=_duration(m.longest_silence_s),
            interruptions=m.interruptions, speech_rate_wpm=m.speech_rate_wpm),
    )

"""The model card: JSON (machine-readable, promotion reads its `metrics`) and Markdown (for people)."""

from __future__ import annotations

import datetime as dt
import platform

import sklearn

from helpline_scorer.model import UtteranceModel
from helpline_scorer.training import HEADLINE

TARGETS = {"criterion_accuracy": ">= 0.90", "criterion_accuracy_noised": ">= 0.85", "band_accuracy": ">= 0.85",
           "score_mae": "<= 8", "critical_flag_recall": "1.0", "critical_flag_precision": ">= 0.8"}


def build_card(version: str, protocol_version: str, model: UtteranceModel | None, corpus_stats: dict,
               config: dict, cv: dict | None, loao: dict | None, metrics: dict, annomi: dict | None = None,
               comparison: dict | None = None, fresh_lines: dict | None = None) -> dict:
    card = {
        "version": version,
        "trained_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "protocol_version": protocol_version,
        "metrics": metrics,
        "metric_direction": {k: "higher" if v else "lower" for k, v in HEADLINE.items()},
        "targets": TARGETS,
        "corpus": corpus_stats,
        "config": config,
        "environment": {"python": platform.python_version(), "scikit_learn": sklearn.__version__},
        "model": {
            "kind": "per-code logistic regression on char 2-5-grams + lemma 1-2-grams (+ the caller's previous "
                    "and next turns and the turn position for counselor codes; a risk lexicon for the caller's cue), "
                    "for risk_cue and judgment averaged with a second one on naive-Bayes-weighted lemma 1-3-grams; "
                    "Platt-calibrated on out-of-fold scores; thresholds tuned on training calls; risk_cue and "
                    "judgment decided per call (noisy-OR of the top-k segments) at the most accurate threshold for "
                    "criteria, score and band, and at a recall-first review threshold for the critical flags",
            "thresholds": ({"counselor": model.counselor.thresholds, "caller": model.caller.thresholds}
                           if model is not None else None),
            "call_level": getattr(model, "call_level", None) if model is not None else None,
            "review_thresholds": getattr(model, "review_thresholds", None) if model is not None else None,
        },
        "evaluation": {},
    }
    if cv is not None:
        card["evaluation"]["grouped_cv"] = {k: v for k, v in cv.items() if k != "calls"}
        card["evaluation"]["grouped_cv_calls"] = cv.get("calls", [])
    if loao is not None:
        card["evaluation"]["leave_one_author_out"] = loao
    if annomi is not None:
        card["annomi"] = annomi
    if comparison is not None:
        card["comparison"] = comparison  # what the promotion gate reads (registry.regressions_against)
    if fresh_lines is not None:
        card["fresh_lines"] = fresh_lines  # probes.run per model version; not gated
    return card


def _f(v) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def render_markdown(card: dict) -> str:
    lines = [f"# Scorer model card — {card['version']}", "",
             f"- protocol {card['protocol_version']}; trained {card['trained_at']}; sha256 `{card.get('sha256', '')}`",
             f"- {card['model']['kind']}",
             f"- corpus: {card['corpus'].get('calls')} calls ({card['corpus'].get('call_segments')} segments), "
             f"{card['corpus'].get('utterances')} single utterances, "
             f"{card['corpus'].get('counselor_utterances')} counselor utterances, authors "
             f"{', '.join(card['corpus'].get('authors', []))}", "",
             "## Headline (held-out calls)", "", "| metric | value | target |", "|---|---|---|"]
    for k, v in card["metrics"].items():
        lines.append(f"| {k} | {_f(v)} | {card['targets'].get(k, '')} |")
    ev = card.get("evaluation", {})
    cv = ev.get("grouped_cv")
    if cv:
        lines += ["", f"## Grouped cross-validation by call ({cv['folds']} folds)", "",
                  "| code | P clean | R clean | F1 clean | P noised | R noised | F1 noised | support |",
                  "|---|---|---|---|---|---|---|---|"]
        for code, m in cv["clean"]["per_code"].items():
            n = cv["noised"]["per_code"].get(code, {})
            lines.append(f"| {code} | {_f(m['precision'])} | {_f(m['recall'])} | {_f(m['f1'])} | "
                         f"{_f(n.get('precision'))} | {_f(n.get('recall'))} | {_f(n.get('f1'))} | {m['support']} |")
        lines += ["", "| criterion | accuracy clean | accuracy noised |", "|---|---|---|"]
        for cid, acc in cv["clean"].get("per_criterion_accuracy", {}).items():
            lines.append(f"| {cid} | {_f(acc)} | {_f(cv['noised']['per_criterion_accuracy'].get(cid))} |")
        lines += ["", "| call level | clean | noised |", "|---|---|---|"]
        for k in ("criterion_accuracy", "score_mae", "band_accuracy", "critical_flag_recall",
                  "critical_flag_precision", "likely_flag_recall", "likely_flag_precision", "code_macro_f1"):
            lines.append(f"| {k} | {_f(cv['clean'].get(k))} | {_f(cv['noised'].get(k))} |")
        flags = cv["clean"].get("critical_flags")
        if flags:
            lines += ["", f"Critical flags (clean): {flags}. Safety first: the flags come from a review view "
                          "in which `risk_cue` and `judgment` are decided per call at a threshold that catches "
                          "every training call carrying them (out-of-fold, clean and ASR-noised, times a margin), "
                          "and a risk question clears a missed-risk flag only when the model is surer of it than "
                          "of any false one in the training calls with a cue; the precision above is what that recall "
                          "costs. Criteria, score and band use the most accurate thresholds. The `likely` flags "
                          "are those whose critical criterion also fails on that most probable reading: the gateway's "
                          "review list shows them first, and the others as possible (listen to check)."]
        points = cv["clean"].get("flag_operating_points")
        if points:
            noised = {p["factor"]: p for p in cv["noised"].get("flag_operating_points", [])}
            lines += ["", "Flag operating points (protocol `flags.review_threshold_factor`; held-out calls; the "
                          "review thresholds × factor, at most the most accurate thresholds):", "",
                      "| factor | recall clean | precision clean | false alarms | missed | recall noised | "
                      "precision noised |", "|---|---|---|---|---|---|---|"]
            for p in points:
                n = noised.get(p["factor"], {})
                lines.append(f"| {p['factor']} | {_f(p['recall'])} | {_f(p['precision'])} | {p['false_positive']} | "
                             f"{p['false_negative']} | {_f(n.get('recall'))} | {_f(n.get('precision'))} |")
    loao = ev.get("leave_one_author_out")
    if loao and "all" in loao:
        lines += ["", "## Leave one author out (train on the other authors, test on this one's calls)", "",
                  "| author | criterion acc. | score MAE | band acc. | flag recall | flag precision | macro-F1 |",
                  "|---|---|---|---|---|---|---|"]
        for author, v in loao.items():
            s = v["clean"] if author != "all" else v["clean"]
            lines.append(f"| {author} | {_f(s.get('criterion_accuracy'))} | {_f(s.get('score_mae'))} | "
                         f"{_f(s.get('band_accuracy'))} | {_f(s.get('critical_flag_recall'))} | "
                         f"{_f(s.get('critical_flag_precision'))} | {_f(s.get('code_macro_f1'))} |")
        s = loao["all"]["noised"]
        lines.append(f"| all, ASR-noised | {_f(s.get('criterion_accuracy'))} | {_f(s.get('score_mae'))} | "
                     f"{_f(s.get('band_accuracy'))} | {_f(s.get('critical_flag_recall'))} | "
                     f"{_f(s.get('critical_flag_precision'))} | {_f(s.get('code_macro_f1'))} |")
    comparison = card.get("comparison")
    if comparison:
        lines += ["", f"## Against {comparison['against']} on the {comparison['calls']} calls it was never trained on",
                  "", f"Authors {', '.join(comparison['authors'])}; this model's out-of-fold predictions, "
                      f"{comparison['against']}'s direct ones. The promotion gate compares these.", "",
                  f"| metric | this model | {comparison['against']} |", "|---|---|---|"]
        for k, v in comparison["candidate"].items():
            lines.append(f"| {k} | {_f(v)} | {_f(comparison['baseline'].get(k))} |")
        points = comparison.get("operating_points")  # absent from cards made before it existed (v1.7.0 and older)
        if points:
            lines += ["", "Flag operating points on the same calls (clean; recall / precision / false alarms), to "
                          "compare precision at matched recall:", "",
                      f"| factor | this model | {comparison['against']} |", "|---|---|---|"]
            for mine, theirs in zip(points["candidate"]["clean"], points["baseline"]["clean"], strict=True):
                lines.append(f"| {mine['factor']} | {_f(mine['recall'])} / {_f(mine['precision'])} / "
                             f"{mine['false_positive']} | {_f(theirs['recall'])} / {_f(theirs['precision'])} / "
                             f"{theirs['false_positive']} |")
    fresh = card.get("fresh_lines")
    if fresh:
        lines += ["", "## Fresh caller lines (data/probes: written after the models, never trained on; not gated)", "",
                  "Cues flagged / non-cues flagged, each line alone in a call with no risk question:", "",
                  "| model | as written | played down | ASR-noised |", "|---|---|---|---|"]
        for name, views in fresh.items():
            lines.append(f"| {name} | " + " | ".join(
                f"{v['cues_flagged']}/{v['cues']} / {v['non_cues_flagged']}/{v['non_cues']}"
                for v in (views["plain"], views["played_down"], views["noised"])) + " |")
    annomi = card.get("annomi")
    if annomi:
        lines += ["", "## AnnoMI (same pipeline, English, therapist behaviour, 5 folds grouped by transcript)", "",
                  f"- macro-F1 {_f(annomi.get('macro_f1'))} (published: 0.72 text, 0.83 text+audio); "
                  f"accuracy {_f(annomi.get('accuracy'))}",
                  f"- session high-vs-low AUC {_f(annomi.get('session_auc'))}"]
    lines.append("")
    return "\n".join(lines)

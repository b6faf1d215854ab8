"""The scorer's commands of `helpline-qa`: `score FILE.json`, and `scorer train|evaluate|promote|models|
annomi|probe|calibrate`."""

from __future__ import annotations

import json
import logging
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import typer

scorer_app = typer.Typer(help="Train, evaluate, version and calibrate the scorer model.", no_args_is_help=True)

CORPUS_OPT = typer.Option(None, help="corpus directory (default: services/scorer/data/corpus)")
JOBS_OPT = typer.Option(os.cpu_count() or 1, min=1, help="evaluation models fitted at once (one per core)")


def _logging() -> None:
    from helpline_common.logs import configure_logging

    configure_logging("WARNING", sys.stderr)  # stdout is the commands' JSON
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # its retries end in one clear error line


@contextmanager
def _one_line_errors(exit_code: int = 1):
    """A refusal, a missing version or an unreachable store as one line on stderr, not a traceback."""
    from helpline_common.errors import HelplineError

    try:
        yield
    except HelplineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exit_code) from None


def _registry():
    from helpline_common.settings import StoreSettings, load_settings
    from helpline_common.storage import ObjectStore
    from helpline_scorer.registry import ModelRegistry

    return ModelRegistry(ObjectStore(load_settings(StoreSettings)))


def _load(model: str | None, model_file: Path | None):
    from helpline_common.errors import NotFound
    from helpline_scorer import registry
    from helpline_scorer.settings import ScorerSettings

    if model_file is not None:
        return registry.load_local(model_file)
    if model is None and not _store_configured():
        bundled = registry.bundled_model_file()
        if bundled is None:
            raise NotFound("no scorer model: no object store is configured (AWS_ACCESS_KEY_ID) and this "
                           "installation has no bundled default; give --model-file")
        return registry.load_local(bundled)
    reg = _registry()
    cache = ScorerSettings.model_fields["model_cache_dir"].default
    return reg.load(model, cache) if model else reg.load_promoted_or_bundled(cache)


def _baseline():
    """The model a new version must not be worse than: what the service would serve (the promoted one,
    else the bundled default), or None when there is neither."""
    from helpline_common.errors import NotFound

    try:
        return _load(None, None)
    except NotFound:
        return None


def _store_configured() -> bool:
    import os

    return bool(os.environ.get("AWS_ACCESS_KEY_ID"))


def score(file: Path = typer.Argument(..., help="transcript JSON: {call_id, segments: [{speaker, start, end, text}]}"),
          model: str = typer.Option(None, "--model",
                                    help="model version in the store (default: promoted, else bundled)"),
          model_file: Path = typer.Option(None, help="a local model.joblib (card.json beside it)")) -> None:
    """Score one transcript and print the result as JSON.

    `critical` lists the calls' critical flags; `critical_tiers` says of each whether it is likely (its
    criterion fails on the most probable reading: listen first) or possible (raised by the recall-first
    review only, so its criterion may still say met or not applicable)."""
    from helpline_common.errors import HelplineError
    from helpline_scorer.protocol import load_protocol
    from helpline_scorer.scoring import Scorer, to_json
    from helpline_scorer.transcript import call_from_json

    _logging()
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        call = call_from_json(data)
        scorer = Scorer(_load(model, model_file), load_protocol())
        result = scorer.score(call)
    except UnicodeDecodeError:
        typer.echo(f"error: cannot read {file}: not UTF-8 text", err=True)
        raise typer.Exit(2) from None
    except json.JSONDecodeError as exc:
        typer.echo(f"error: {file} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})", err=True)
        raise typer.Exit(2) from None
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    except HelplineError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    lang = data.get("model", {}).get("lang", "")
    if lang and not lang.startswith("ru"):
        typer.echo(f"warning: the transcript was recognised with a '{lang}' speech model; the scorer reads Russian, "
                   "so this score says nothing about the call", err=True)
    typer.echo(json.dumps(to_json(result), ensure_ascii=False, indent=2))


@scorer_app.command()
def train(corpus: Path = CORPUS_OPT,
          out: Path = typer.Option(Path("var/scorer-model"), help="directory for model.joblib + card.json + card.md"),
          version: str = typer.Option(None, help="version name (default: vYYYYmmdd-HHMMSS)"),
          evaluate: bool = typer.Option(True, help="run grouped CV and leave-one-author-out for the card"),
          annomi_report: Path = typer.Option(None, help="an AnnoMI report JSON to include in the card"),
          publish: bool = typer.Option(False, help="upload the version to the object store"),
          promote: bool = typer.Option(False, help="promote it, unless a headline metric regresses"),
          jobs: int = JOBS_OPT) -> None:
    """Train on the whole corpus (after evaluating on held-out calls) and save a versioned model."""
    from helpline_scorer import registry, training
    from helpline_scorer.card import build_card, render_markdown
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.protocol import load_protocol

    _logging()
    protocol = load_protocol()
    data = load_corpus(corpus, protocol)
    cfg = training.TrainConfig()
    version = registry.check_version(version or registry.new_version())
    cv = loao = comparison = baseline = None
    if evaluate:
        typer.echo(f"cross-validating on {len(data.calls)} calls ...", err=True)
        predictions: dict = {}
        cv = training.cross_validate(protocol, data, cfg, predictions, jobs=jobs)
        baseline = _baseline()
        if baseline is not None:
            comparison = training.compare_on_unseen(protocol, data, cfg, predictions, baseline.model, baseline.card)
        typer.echo("leave-one-author-out ...", err=True)
        loao = training.leave_one_author_out(protocol, data, cfg, jobs=jobs)
    model = training.fit(protocol, data.calls, data.utterances, cfg)
    metrics = training.headline_metrics(cv, loao) if cv else {}
    annomi = json.loads(annomi_report.read_text()) if annomi_report and annomi_report.is_file() else None
    fresh = _fresh_lines(protocol, [registry.LoadedModel(version, "", model, {}), *([baseline] if baseline else [])])
    card = build_card(version, protocol.version, model, data.stats(), training.config_dict(cfg), cv, loao, metrics,
                      annomi, comparison, fresh)
    sha = registry.save_local(model, card, out, render_markdown)
    typer.echo(json.dumps({"version": version, "sha256": sha, "dir": str(out), "metrics": metrics}, indent=2))
    if publish or promote:
        with _one_line_errors():
            reg = _registry()
            reg.publish(version, out)
            if promote:
                record = reg.promote(version, training.HEADLINE)
                typer.echo(f"promoted {record['version']}", err=True)


@scorer_app.command()
def evaluate(corpus: Path = CORPUS_OPT,
             out: Path = typer.Option(None, help="write the evaluation (card JSON without a model) here"),
             loao: bool = typer.Option(True, help="also leave one author out"),
             jobs: int = JOBS_OPT) -> None:
    """Grouped CV by call (clean and ASR-noised) and leave-one-author-out; print the headline figures."""
    from helpline_scorer import training
    from helpline_scorer.card import build_card, render_markdown
    from helpline_scorer.corpus import load_corpus
    from helpline_scorer.protocol import load_protocol

    _logging()
    protocol = load_protocol()
    data = load_corpus(corpus, protocol)
    cfg = training.TrainConfig()
    cv = training.cross_validate(protocol, data, cfg, jobs=jobs)
    by_author = training.leave_one_author_out(protocol, data, cfg, jobs=jobs) if loao else None
    metrics = training.headline_metrics(cv, by_author)
    card = build_card("evaluation", protocol.version, None, data.stats(), training.config_dict(cfg), cv,
                      by_author, metrics)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        out.with_suffix(".md").write_text(render_markdown(card), encoding="utf-8")
    typer.echo(json.dumps(metrics, indent=2))


@scorer_app.command("promote")
def promote_cmd(version: str, force: bool = typer.Option(False, help="promote even if a metric regresses")) -> None:
    """Promote a stored version, unless a headline metric regresses against the one served now (the
    promoted version, else the bundled default)."""
    from helpline_scorer.training import HEADLINE

    _logging()
    with _one_line_errors():
        record = _registry().promote(version, HEADLINE, force=force)
    typer.echo(json.dumps(record, indent=2))


MODEL_FIGURES = (("criteria", "criterion_accuracy"), ("mae", "score_mae"), ("band", "band_accuracy"),
                 ("flag-recall", "critical_flag_recall"), ("flag-precision", "critical_flag_precision"))


@scorer_app.command()
def models() -> None:
    """List stored model versions and their headline figures; * marks the promoted one."""
    from helpline_scorer import registry

    _logging()
    with _one_line_errors():
        reg = _registry()
        promoted = reg.promoted() or {}
        versions = reg.versions()
        cards = {v: reg.card(v) for v in versions}
    if not versions:
        bundled = registry.bundled_card() or {}
        typer.echo(f"no scorer model versions in the store; the service serves the bundled default "
                   f"{bundled.get('version', '(none)')}")
    for v, card in cards.items():
        m = card.get("metrics", {})
        figures = "  ".join(f"{name} {m[key]}" for name, key in MODEL_FIGURES if key in m)
        typer.echo(f"{'*' if v == promoted.get('version') else ' '} {v}  {card.get('sha256', '')[:12]}  {figures}")


@scorer_app.command()
def annomi(data: Path = typer.Option(Path("/work/shared/datasets/annomi"), help="AnnoMI directory"),
           out: Path = typer.Option(Path("services/scorer/reports/annomi.json"), help="report JSON (+ .md)")) -> None:
    """Run the same pipeline on AnnoMI (therapist behaviour, 5 folds grouped by transcript)."""
    from helpline_scorer.annomi import render_markdown, run

    _logging()
    report = run(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    out.with_suffix(".md").write_text(render_markdown(report), encoding="utf-8")
    typer.echo(json.dumps({k: report[k] for k in ("macro_f1", "accuracy", "session_auc")}, indent=2))


def _fresh_lines(protocol, models: list) -> dict:
    """The fresh-lines probe (probes.py) of each loaded model, by version."""
    from helpline_scorer.probes import load_lines, run
    from helpline_scorer.scoring import Scorer

    lines = load_lines()
    return {m.version: run(Scorer(m, protocol), lines) for m in models}


@scorer_app.command()
def probe(model: str = typer.Option(None, "--model", help="model version (default: promoted, else bundled)"),
          model_file: Path = typer.Option(None, help="a local model.joblib (card.json beside it)")) -> None:
    """Flags on caller lines no model here was trained on (data/probes): as written, played down, ASR-noised."""
    from helpline_scorer.protocol import load_protocol

    _logging()
    with _one_line_errors(exit_code=2):
        loaded = _load(model, model_file)
    typer.echo(json.dumps(_fresh_lines(load_protocol(), [loaded]), indent=2))


@scorer_app.command()
def calibrate(model: str = typer.Option(None, "--model", help="model version (default: promoted)"),
              model_file: Path = typer.Option(None, help="a local model.joblib"),
              region: str = typer.Option(None, help="only this region's reviews"),
              export: Path = typer.Option(None, help="write the reviewed calls as corpus JSONL for training")) -> None:
    """Agreement between the model and supervisors' reviews: Cohen's kappa per criterion, score correlation."""
    from helpline_scorer.calibrate import run

    _logging()
    with _one_line_errors():
        report = run(_registry().store, _load(model, model_file), region, export)
    typer.echo(json.dumps(report, indent=2, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Add the scorer's commands to the helpline-qa CLI."""
    app.command("score")(score)
    app.add_typer(scorer_app, name="scorer")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(scorer_app())

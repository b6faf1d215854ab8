"""The transcriber's commands of `helpline-qa`: transcribe, redact, models fetch-vosk / import-vosk."""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

import typer

MODEL_HELP = "Vosk model directory (default: $HELPLINE_TRANSCRIBER_MODEL_DIR)"


def _models_group(app: typer.Typer) -> typer.Typer:
    """The `models` group, shared with other services' model commands if one registered it first."""
    for group in app.registered_groups:
        if group.name == "models" and group.typer_instance is not None:
            return group.typer_instance
    models_app = typer.Typer(help="Speech models (Vosk) in the object store; scorer models are under "
                                  "`helpline-qa scorer`.", no_args_is_help=True)
    app.add_typer(models_app, name="models")
    return models_app


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _store():
    from helpline_common.settings import StoreSettings, load_settings
    from helpline_common.storage import ObjectStore

    store = ObjectStore(load_settings(StoreSettings))
    store.ensure_bucket()
    return store


def transcribe(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="WAV, FLAC or OGG recording"),
    model: Path | None = typer.Option(None, "--model", help=MODEL_HELP),
    caller_channel: int = typer.Option(0, "--caller-channel", min=0, max=1,
                                       help="stereo: the channel of the caller (the other is the counselor)"),
    call_id: str | None = typer.Option(None, "--call-id", help="default: the file name without extension"),
    max_seconds: float = typer.Option(7200, "--max-seconds", help="refuse longer recordings"),
) -> None:
    """Transcribe one recording locally and print the redacted transcript as JSON."""
    from helpline.common.v1 import recording_pb2
    from helpline_common.errors import HelplineError
    from helpline_common.transcript_json import to_dict
    from helpline_transcriber import models
    from helpline_transcriber.pipeline import Transcriber

    model_dir = model or (Path(os.environ["HELPLINE_TRANSCRIBER_MODEL_DIR"])
                          if os.environ.get("HELPLINE_TRANSCRIBER_MODEL_DIR") else None)
    if model_dir is None:
        _fail("give --model DIR or set HELPLINE_TRANSCRIBER_MODEL_DIR")
    try:
        speech_model = models.from_directory(model_dir)
    except models.ModelError as exc:
        _fail(str(exc))
    transcriber = Transcriber(speech_model, max_streams=1, max_seconds=max_seconds, warm_up=False)
    layout = (recording_pb2.CHANNEL_LAYOUT_STEREO_CALLER_FIRST if caller_channel == 0
              else recording_pb2.CHANNEL_LAYOUT_STEREO_COUNSELOR_FIRST)
    try:
        with transcriber.admitted():
            transcript = transcriber.transcribe_file(file, call_id=call_id or file.stem, layout=layout)
    except HelplineError as exc:
        _fail(str(exc))
    finally:
        transcriber.close()
    typer.echo(json.dumps(to_dict(transcript), ensure_ascii=False))


def redact(no_ner: bool = typer.Option(False, "--no-ner", help="rules and dictionary only, without natasha")) -> None:
    """Redact Russian text from stdin: one line in, one line out (names, phones, e-mails, addresses, schools)."""
    from helpline_transcriber.redaction import Redactor

    redactor = Redactor(use_ner=not no_ner)
    for line in sys.stdin:
        text, _counts = redactor.redact_text(line.rstrip("\n"))
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def import_vosk(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True, help="a Vosk model .zip"),
    name: str | None = typer.Option(None, "--name", help="model name (default: the folder inside the zip)"),
    lang: str | None = typer.Option(None, "--lang", help="language code, e.g. ru (default: from the name)"),
) -> None:
    """Upload a Vosk model archive to the store (models/vosk/NAME.zip) and print the settings to use."""
    from helpline_transcriber import models

    try:
        key, sha256 = models.import_archive(_store(), file, name=name, lang=lang)
    except models.ModelError as exc:
        _fail(str(exc))
    typer.echo(f"imported {file.name} as {key}")
    typer.echo(f"sha256 {sha256}")
    typer.echo("transcriber settings:")
    typer.echo(f"HELPLINE_TRANSCRIBER_MODEL_OBJECT={key}")
    typer.echo(f"HELPLINE_TRANSCRIBER_MODEL_SHA256={sha256}")


def fetch_vosk(
    name: str = typer.Argument(..., help="vosk-model-small-ru-0.22 or vosk-model-ru-0.42"),
    sha256: str | None = typer.Option(None, "--sha256", help="expected SHA-256 of the archive (hex)"),
    lang: str = typer.Option("ru", "--lang"),
    keep: Path | None = typer.Option(None, "--keep", help="also keep the downloaded zip at this path"),
) -> None:
    """Download an official Vosk model from alphacephei.com, check its SHA-256, import it into the store."""
    from helpline_transcriber import models

    if name not in models.OFFICIAL_MODELS:
        _fail(f"unknown model {name}; choose one of {', '.join(sorted(models.OFFICIAL_MODELS))}")
    expected = (sha256 or models.PINNED_SHA256.get(name, "")).lower()
    if expected and not re.fullmatch(r"[0-9a-f]{64}", expected):
        _fail("--sha256 must be 64 hexadecimal digits")
    store = _store()  # before a download of up to 2 GB: a store that cannot be reached fails now
    url = models.OFFICIAL_URL.format(name=name)
    with tempfile.TemporaryDirectory(prefix="fetch-vosk-") as tmp:
        archive = Path(tmp) / f"{name}.zip"
        typer.echo(f"downloading {url}", err=True)
        try:
            actual = models.download(url, archive)
        except OSError as exc:
            _fail(f"download failed ({exc}); on a site without internet copy the zip here and use "
                  f"`helpline-qa models import-vosk {name}.zip`", code=1)
        if keep is not None:
            keep.write_bytes(archive.read_bytes())
        typer.echo(f"sha256 of the download: {actual}")
        if not expected:
            _fail("no checksum to compare with: check the hash above against a trusted copy, then run again "
                  f"with --sha256 {actual}")
        if actual != expected:
            _fail(f"checksum mismatch: expected {expected}, got {actual}; nothing imported", code=1)
        try:
            key, stored_sha = models.import_archive(store, archive, name=name, lang=lang)
        except models.ModelError as exc:
            _fail(str(exc))
    typer.echo(f"imported as {key}")
    typer.echo(f"HELPLINE_TRANSCRIBER_MODEL_OBJECT={key}")
    typer.echo(f"HELPLINE_TRANSCRIBER_MODEL_SHA256={stored_sha}")


def register(app: typer.Typer) -> None:
    """Add the transcriber's commands to the helpline-qa CLI."""
    app.command("transcribe")(transcribe)
    app.command("redact")(redact)
    models_app = _models_group(app)
    models_app.command("import-vosk")(import_vosk)
    models_app.command("fetch-vosk")(fetch_vosk)

"""The transcriber's commands of `helpline-qa`."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the transcriber's commands to the helpline-qa CLI."""

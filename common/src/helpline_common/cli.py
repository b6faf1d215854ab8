"""`helpline-qa`: one command for operators, supervisors and developers.

Each installed service package adds its own commands through `register(app)` in its `cli` module, so an
image that ships only the scorer has only the scorer's commands.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(help="Helpline QA: quality assurance of child-helpline counselling.", no_args_is_help=True,
                  pretty_exceptions_show_locals=False)

SERVICE_CLIS = ("helpline_transcriber.cli", "helpline_scorer.cli", "helpline_gateway.cli")
SERVICES = {"transcriber": "helpline_transcriber", "scorer": "helpline_scorer", "gateway": "helpline_gateway"}


@app.callback()
def _root() -> None:
    """Helpline QA command line."""


@app.command("regions")
def list_regions() -> None:
    """The region codes (federal subjects) and their names."""
    from helpline_common.regions import regions

    for code, name in regions().items():
        print(f"{code}  {name}")


@app.command()
def serve(service: str = typer.Argument(..., help="transcriber, scorer or gateway")) -> None:
    """Run one service (settings from environment variables; see docs/conventions.md)."""
    if service not in SERVICES:
        raise typer.BadParameter(f"choose one of {', '.join(SERVICES)}")
    package = SERVICES[service]
    try:
        module = importlib.import_module(f"{package}.service")
        settings_module = importlib.import_module(f"{package}.settings")
    except ImportError as exc:
        raise typer.BadParameter(f"{service} is not installed here") from exc
    from helpline_common.server import serve_main

    settings_cls = getattr(settings_module, f"{service.capitalize()}Settings")
    serve_main(settings_cls, module.create_server)


def _register_service_commands() -> None:
    for name in SERVICE_CLIS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name.split(".")[0]):
                continue  # that service is not installed in this environment
            raise
        module.register(app)


def main() -> None:
    _register_service_commands()
    app()

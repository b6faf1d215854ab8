"""The 89 federal subjects of Russia, by their two-digit code (data file regions.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from helpline_common.errors import InvalidArgument


@cache
def regions() -> dict[str, str]:
    """Region code → Russian name."""
    data = json.loads(resources.files(__package__).joinpath("regions.json").read_text(encoding="utf-8"))
    return {row["code"]: row["name"] for row in data["regions"]}


def is_known(code: str) -> bool:
    return code in regions()


def unknown_code_message(code: str) -> str:
    return f"unknown region code {code!r}: regions are two-digit codes (`helpline-qa regions` lists them)"


def require_known(code: str) -> None:
    """INVALID_ARGUMENT (the gRPC status of a bad request) for a code that names no region."""
    if not is_known(code):
        raise InvalidArgument(unknown_code_message(code))

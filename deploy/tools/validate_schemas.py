"""Validate rendered Kubernetes objects against the OpenAPI schemas of one pinned Kubernetes version.

Strict: unknown fields are errors, and so is an object whose kind/apiVersion has no schema in that
version (kubernetes-validate's own command line only warns about those and exits 0).

    python deploy/tools/validate_schemas.py --kubernetes-version 1.33.0 rendered/dev.yaml ...
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kv


def problems(obj: dict[str, Any], version: str) -> list[str]:
    """Everything wrong with one object for that Kubernetes version (empty list: valid)."""
    what = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    if not isinstance(obj.get("apiVersion"), str) or not isinstance(obj.get("kind"), str):
        return [f"{what}: no apiVersion/kind"]
    try:
        kv.validate(obj, version, strict=True)
    except kv.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "(root)"
        return [f"{what}: {path}: {exc.message}"]
    except kv.SchemaNotFoundError as exc:
        return [f"{what}: {exc.message}"]
    except kv.VersionNotSupportedError:
        return [f"kubernetes-validate {kv.__version__} has no schemas for Kubernetes {version}"]
    except kv.InvalidSchemaError as exc:
        return [f"{what}: {exc.message}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failed = total = 0
    for path in args.files:
        objs = [o for o in yaml.safe_load_all(path.read_text()) if o]
        for obj in objs:
            total += 1
            found = problems(obj, args.kubernetes_version)
            failed += bool(found)
            for line in found:
                print(f"ERROR {path.name}: {line}")
        print(f"{path.name}: {len(objs)} objects checked against Kubernetes {args.kubernetes_version}")
    print(f"schemas: {total - failed} valid, {failed} invalid")
    return 1 if failed or not total else 0


if __name__ == "__main__":
    sys.exit(main())

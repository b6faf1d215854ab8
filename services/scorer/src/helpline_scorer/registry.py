"""Model versions: files, hashes, cards, the object store and promotion.

Layout (docs/conventions.md): models/scorer/{version}/model.joblib + card.json + card.md, and
models/scorer/promoted.json = {"version", "sha256", "promoted_at"}.

SAFETY: model.joblib is a pickle, and loading a pickle runs code. The SHA-256 check BEFORE
joblib.load is what stands between a tampered file and code execution in the scorer, so a file whose
hash does not match the expected one (from promoted.json, or MODEL_SHA256 when pinned) is refused
unread. Never load a model file any other way.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import joblib

from helpline_common import layout
from helpline_common.errors import FailedPrecondition, InvalidArgument, NotFound
from helpline_common.storage import BucketMissing, ObjectStore
from helpline_scorer.model import UtteranceModel

log = logging.getLogger(__name__)

MODEL_FILE, CARD_JSON, CARD_MD = "model.joblib", "card.json", "card.md"
VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_VERSION = "bundled-default"


class ModelIntegrityError(FailedPrecondition):
    """A model file whose hash is not the expected one; it was not loaded."""


@dataclass(frozen=True)
class LoadedModel:
    version: str
    sha256: str
    model: UtteranceModel
    card: dict


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_version(version: str) -> str:
    if not VERSION_PATTERN.match(version or ""):
        raise InvalidArgument("model version must be 1-64 characters of [A-Za-z0-9._-]")
    return version


def new_version(now: dt.datetime | None = None) -> str:
    return (now or dt.datetime.now(dt.UTC)).strftime("v%Y%m%d-%H%M%S")


def save_local(model: UtteranceModel, card: dict, directory: Path, render_md) -> str:
    """Write model.joblib, then card.json (with the file's hash) and card.md; return the hash."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / MODEL_FILE
    joblib.dump(model, path, compress=3)
    sha = sha256_file(path)
    card["sha256"] = sha
    (directory / CARD_JSON).write_text(json.dumps(card, ensure_ascii=False, indent=2, sort_keys=True) + "\n",
                                       encoding="utf-8")
    (directory / CARD_MD).write_text(render_md(card), encoding="utf-8")
    return sha


def load_verified(path: Path, expected_sha256: str, version: str, card: dict) -> LoadedModel:
    """Hash first, unpickle only on a match (see the module docstring)."""
    if not re.fullmatch(r"[0-9a-f]{64}", expected_sha256 or ""):
        raise ModelIntegrityError(f"model {version}: no valid expected sha256; refusing to load")
    actual = sha256_file(path)
    if actual != expected_sha256:
        log.error("model hash mismatch", extra={"version": version, "expected": expected_sha256,
                                                "actual": actual})
        raise ModelIntegrityError(f"model {version}: sha256 mismatch; refusing to load")
    model = joblib.load(path)
    if not isinstance(model, UtteranceModel):
        raise ModelIntegrityError(f"model {version}: not a scorer model")
    return LoadedModel(version, actual, model, card)


def load_local(model_file: Path, expected_sha256: str = "") -> LoadedModel:
    """A model file with its card.json beside it (development, tests, the bundled default).

    The expected hash is `expected_sha256` when given, else the card's; either way it is checked.
    """
    if not model_file.is_file():
        raise NotFound(f"model file not found: {model_file}")
    card_path = model_file.parent / CARD_JSON
    card = json.loads(card_path.read_text(encoding="utf-8")) if card_path.is_file() else {}
    expected = expected_sha256 or card.get("sha256", "")
    return load_verified(model_file, expected, card.get("version", model_file.parent.name), card)


def bundled_model_file() -> Path | None:
    path = Path(str(resources.files("helpline_scorer").joinpath("default_model", MODEL_FILE)))
    return path if path.is_file() else None


def bundled_card() -> dict | None:
    path = bundled_model_file()
    return json.loads((path.parent / CARD_JSON).read_text(encoding="utf-8")) if path is not None else None


PRECISION, RECALL = "critical_flag_precision", "critical_flag_recall"  # compared at matched recall


def regressions_against(card: dict, current: dict, higher_is_better: dict[str, bool]) -> list[str]:
    """The headline metrics on which the model of `card` is worse than the model of `current`.

    Like with like only: the two cards' own figures when both were measured on the same corpus;
    otherwise the candidate card's `comparison` against that very version (both models on the calls the
    current one never saw, training.compare_on_unseen). Without either, the versions do not compare,
    and that is reported as a regression (promote with force to override).

    Flag precision is compared at matched recall (`_flag_precision_at_recall`): a candidate that raises
    more of the real flags pays for them in false alarms, so its precision at its own recall says nothing
    about whether it is the better model. Flag recall itself is compared as it is.
    """
    comparison = card.get("comparison") or {}
    if card.get("corpus") == current.get("corpus"):
        old, new = current.get("metrics", {}), card.get("metrics", {})
        points = card.get("evaluation", {}).get("grouped_cv", {}).get("clean", {}).get("flag_operating_points", [])
    elif [comparison.get("against"), comparison.get("against_sha256")] == [current.get("version"),
                                                                           current.get("sha256")]:
        old, new = comparison["baseline"], comparison["candidate"]
        points = comparison.get("operating_points", {}).get("candidate", {}).get("clean", [])
    else:
        return [f"not comparable: {card.get('version')} was measured on another corpus than {current.get('version')} "
                f"and its card has no comparison against it"]
    out = []
    for metric, higher in higher_is_better.items():
        if metric not in old:
            continue
        label, value = metric, new.get(metric)
        if metric == PRECISION and RECALL in old:
            label = f"{PRECISION} at recall >= {old[RECALL]}"
            value = _flag_precision_at_recall(new, points, old[RECALL])
        if value is None or (value < old[metric] if higher else value > old[metric]):
            out.append(f"{label}: {old[metric]} -> {value}")
    return out


def _flag_precision_at_recall(metrics: dict, points: list[dict], recall: float) -> float | None:
    """The best flag precision the model reaches with recall no lower than `recall`: at its own operating
    point (`metrics`) or at another of the protocol's `flags.review_threshold_factor` values measured on
    the same calls (`points`, the card's flag operating points). None when no point reaches `recall`."""
    candidates = [(metrics.get(RECALL), metrics.get(PRECISION))]
    candidates += [(p.get("recall"), p.get("precision")) for p in points]
    reached = [precision for r, precision in candidates if r is not None and precision is not None and r >= recall]
    return max(reached, default=None)


class ModelRegistry:
    """Scorer model versions in the object store."""

    def __init__(self, store: ObjectStore):
        self.store = store

    def publish(self, version: str, directory: Path) -> str:
        """Upload a saved model directory as `version`; the card must carry the model's hash."""
        check_version(version)
        card = json.loads((directory / CARD_JSON).read_text(encoding="utf-8"))
        if card.get("sha256") != sha256_file(directory / MODEL_FILE):
            raise ModelIntegrityError("card.json does not carry the hash of model.joblib")
        prefix = layout.scorer_model_prefix(version)
        if self.store.exists(prefix + CARD_JSON):
            raise FailedPrecondition(f"model version {version} already exists")
        with open(directory / MODEL_FILE, "rb") as f:
            self.store.upload_stream(prefix + MODEL_FILE, f, (directory / MODEL_FILE).stat().st_size,
                                     metadata={"sha256": card["sha256"]})
        self.store.put_bytes(prefix + CARD_MD, (directory / CARD_MD).read_bytes(), "text/markdown")
        self.store.put_json(prefix + CARD_JSON, card)  # last: a version exists once its card does
        return card["sha256"]

    def card(self, version: str) -> dict:
        try:
            return self.store.get_json(layout.scorer_model_prefix(check_version(version)) + CARD_JSON)
        except NotFound:
            raise NotFound(f"no scorer model version {version} in the store (`helpline-qa scorer models` "
                           "lists them)") from None

    def versions(self) -> list[str]:
        keys = self.store.list_keys("models/scorer/")
        return sorted({k.split("/")[2] for k in keys if k.endswith("/" + CARD_JSON)})

    def promoted(self) -> dict | None:
        try:
            return self.store.get_json(layout.SCORER_PROMOTED_KEY)
        except NotFound:
            return None

    def promote(self, version: str, higher_is_better: dict[str, bool], force: bool = False) -> dict:
        """Make `version` the promoted one, unless a headline metric regresses against the current one:
        the promoted version, or the bundled default that the service serves while none is
        (regressions_against says on which figures)."""
        card = self.card(version)
        current = self.promoted()
        if current is not None:
            serving = self.card(current["version"]) if current["version"] != version else None
        else:  # the bundled default serves; promoting that very file changes nothing
            serving = bundled_card()
            serving = serving if serving is not None and serving.get("sha256") != card.get("sha256") else None
        regressions = regressions_against(card, serving, higher_is_better) if serving is not None else []
        if regressions and not force:
            raise FailedPrecondition("not promoted; regressions: " + "; ".join(regressions))
        record = {"version": version, "sha256": card["sha256"],
                  "promoted_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "previous": current["version"] if current else None, "forced_over": regressions}
        self.store.put_json(layout.SCORER_PROMOTED_KEY, record)
        return record

    def load(self, version: str, cache_dir: Path, expected_sha256: str = "") -> LoadedModel:
        """Download `version` into the cache and load it after the hash check.

        The expected hash is, in order: `expected_sha256` (pinned by settings), the promoted record's
        (when `version` is the promoted one), the version's card.
        """
        check_version(version)
        card = self.card(version)
        expected = expected_sha256
        if not expected:
            promoted = self.promoted()
            expected = promoted["sha256"] if promoted and promoted["version"] == version else card.get("sha256", "")
        target = cache_dir / "scorer" / version / MODEL_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.is_file() or sha256_file(target) != expected:
            fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".part")
            os.close(fd)
            try:
                self.store.download_file(layout.scorer_model_prefix(version) + MODEL_FILE, tmp)
                os.replace(tmp, target)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        return load_verified(target, expected, version, card)

    def load_promoted(self, cache_dir: Path, expected_sha256: str = "") -> LoadedModel:
        promoted = self.promoted()
        if promoted is None:
            raise NotFound("no promoted scorer model")
        return self.load(promoted["version"], cache_dir, expected_sha256)

    def load_promoted_or_bundled(self, cache_dir: Path, expected_sha256: str = "") -> LoadedModel:
        """The promoted model; the bundled default while nothing is promoted (or the bucket is not there
        yet). A store that is down raises Unavailable, and a promoted version whose files are missing
        raises NotFound: serving another model in its place would be silently wrong. With a pinned hash
        and nothing promoted, NotFound too: a pin names one model, and the bundled default is not it."""
        try:
            promoted = self.promoted()
        except BucketMissing:
            promoted = None
        bundled = bundled_model_file()
        if promoted is not None or expected_sha256 or bundled is None:
            return self.load_promoted(cache_dir, expected_sha256)
        log.warning("no promoted scorer model in the store; using the bundled default model")
        return load_local(bundled)

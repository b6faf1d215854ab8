"""Scorer fixtures: one real model trained once per session on the real corpus (no evaluation runs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpline_scorer import registry, training
from helpline_scorer.card import build_card, render_markdown
from helpline_scorer.corpus import load_corpus
from helpline_scorer.protocol import load_protocol


@pytest.fixture(scope="session")
def protocol():
    return load_protocol()


@pytest.fixture(scope="session")
def corpus(protocol):
    data = load_corpus(None, protocol)
    assert len(data.calls) >= 20, "the training corpus is missing (services/scorer/data/corpus)"
    return data


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, protocol, corpus) -> Path:
    """model.joblib + card.json + card.md of a model trained on the whole corpus."""
    cfg = training.TrainConfig(inner_folds=3)
    model = training.fit(protocol, corpus.calls, corpus.utterances, cfg)
    card = build_card("test-model", protocol.version, model, corpus.stats(), training.config_dict(cfg), None, None,
                      {"criterion_accuracy": 0.9, "score_mae": 8.0})
    directory = tmp_path_factory.mktemp("model")
    registry.save_local(model, card, directory, render_markdown)
    return directory


@pytest.fixture(scope="session")
def loaded(model_dir):
    return registry.load_local(model_dir / registry.MODEL_FILE)

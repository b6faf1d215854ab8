"""Helpline QA scorer: protocol v1 adherence with a trained scikit-learn model."""

"""Helpline QA gateway: the only service people and jobs talk to."""

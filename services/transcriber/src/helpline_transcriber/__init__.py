"""Helpline QA transcriber: local Vosk speech recognition per speaker, redacted."""

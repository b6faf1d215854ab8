"""Shared runtime of the Helpline QA services: settings, logging, gRPC server and client, object store, auth."""

"""Adapters: PostgreSQL store, Kafka handlers, SMTP and SMS providers, templates, HTTP API."""

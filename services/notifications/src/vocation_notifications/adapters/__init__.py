"""Adapters: PostgreSQL repositories, Kafka subscriptions, SMTP and SMS providers, templates, HTTP API."""

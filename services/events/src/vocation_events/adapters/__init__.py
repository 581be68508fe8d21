"""Adapters of the events service: PostgreSQL, Kafka and HTTP."""

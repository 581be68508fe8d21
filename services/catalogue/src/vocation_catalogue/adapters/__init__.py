"""Adapters of the catalogue: PostgreSQL read models and bookings, Kafka handlers, HTTP API, metrics."""

"""Adapters of the matching service: Kafka state reader and reactions, PostgreSQL ledger, HTTP."""

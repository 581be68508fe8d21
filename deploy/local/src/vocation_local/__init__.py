"""Local real infrastructure (Kafka, PostgreSQL) without containers."""

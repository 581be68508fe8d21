"""PostgreSQL adapters: the ledger of emitted matches and its unit of work."""

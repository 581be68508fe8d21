"""The application layer: one module per use case, each depending on `ports.py` only."""

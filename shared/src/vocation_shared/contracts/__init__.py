"""Contracts: CloudEvents envelope, one pydantic model per event type, and the topic registry."""

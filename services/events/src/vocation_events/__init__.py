"""Vocation events service."""

"""Fixtures for the tests across services."""

from vocation_local.e2e import platform

__all__ = ["platform"]

"""Vocation notifications service."""

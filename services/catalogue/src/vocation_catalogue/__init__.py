"""Vocation catalogue service."""

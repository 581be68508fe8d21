"""Vocation matching service."""

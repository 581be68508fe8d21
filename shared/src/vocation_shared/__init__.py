"""Vocation shared library: contracts and plumbing common to every service."""

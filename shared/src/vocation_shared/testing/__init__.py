"""Test support shared by every service: realistic samples and fakes."""

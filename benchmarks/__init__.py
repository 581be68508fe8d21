"""Benchmarks of Vocation (`make bench`): each measured next to its peer in the same run."""

"""Benchmarks: scripts, not tests.  ``python -m bench`` runs them all and prints a table."""

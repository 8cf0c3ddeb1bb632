"""Comparison servers for the HTTP scenario."""

"""Monitoring domain."""

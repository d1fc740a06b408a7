"""Costs of the ai service."""

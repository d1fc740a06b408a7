"""Providers of the ai service."""

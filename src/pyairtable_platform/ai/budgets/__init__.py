"""Budgets of the ai service."""

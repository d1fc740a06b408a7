"""Analysis of the ai service."""

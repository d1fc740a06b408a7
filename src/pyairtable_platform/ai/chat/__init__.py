"""Chat of the ai service."""

"""Sessions of the ai service."""

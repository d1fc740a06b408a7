"""Analytics domain."""

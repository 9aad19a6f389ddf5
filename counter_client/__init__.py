"""counter client package."""

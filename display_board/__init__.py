"""display board package."""

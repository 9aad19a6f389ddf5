"""Load and concurrency tests: many clients against a real server (slow; not in the fast tier)."""

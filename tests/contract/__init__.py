"""Contract tests: every implementation of a port passes the same checks."""

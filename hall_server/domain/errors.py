"""Domain errors: each carries a stable code that the API turns into a 4xx response."""
from __future__ import annotations


class DomainError(Exception):
    """A rule of the hall refused the action; nothing was changed."""

    code = "domain_error"
    status = 409

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class InvalidTransition(DomainError):
    """The ticket is not in a state that allows this action."""

    code = "invalid_state"


class ReasonRequired(DomainError):
    """Calling out of order needs a reason, for the audit trail."""

    code = "reason_required"
    status = 422


class InvalidInput(DomainError):
    """A value given to the domain is malformed."""

    code = "invalid_input"
    status = 422

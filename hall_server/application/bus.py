"""The bus: the one table of what happens after a commit (broadcast, voice, print, SMS, devices).

Commands raise; effect handlers only log. A printer, a TTS engine or a socket that fails must
never undo or block a committed change (cosmicpython's message bus, for after-commit effects).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy.engine import Connection

from hall_server.application.common import Outcome

log = logging.getLogger(__name__)

EffectHandler = Callable[[Outcome], None]
# Writes that belong to the change itself (an SMS outbox row): run inside the command's transaction,
# just before its commit; one that raises rolls the whole change back.
TransactionHook = Callable[[Connection, Outcome], None]


class Bus:
    """Runs every effect handler for each committed Outcome, in subscription order."""

    def __init__(self) -> None:
        self.handlers: list[EffectHandler] = []
        self.in_transaction: list[TransactionHook] = []

    def subscribe(self, handler: EffectHandler) -> None:
        """Add an effect handler (done once, by the composition root and the feature packages)."""
        self.handlers.append(handler)

    def before_commit(self, hook: TransactionHook) -> None:
        """Add a write done in every command's transaction, before it commits (the composition root)."""
        self.in_transaction.append(hook)

    def publish(self, outcome: Outcome) -> None:
        """Hand a committed outcome to every handler; a failing handler is logged, never raised."""
        for handler in self.handlers:
            try:
                handler(outcome)
            except Exception:
                log.exception("after-commit handler %r failed", handler)

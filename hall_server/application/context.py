"""The core the handlers and read models share: settings, engine, clock, bus and estimates."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from config import HallDef, Settings
from hall_server.application import audit
from hall_server.application.bus import Bus
from hall_server.application.common import Clock, NotFound, utc_now
from hall_server.application.estimates import WaitEstimates
from hall_server.application.uow import UnitOfWork
from hall_server.storage import is_postgres


@dataclass
class Core:
    """Everything a command handler needs, built once by the composition root."""

    settings: Settings
    engine: Engine
    clock: Clock = utc_now
    bus: Bus = field(default_factory=Bus)
    live_stale_s: float = 0.0  # how old (real seconds) a hall's live state may be when a request reads it
    estimates: WaitEstimates = field(init=False)
    pg: bool = field(init=False)
    audit_key: audit.AuditKey = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pg = is_postgres(self.engine)
        # every audit entry written through this engine is keyed (HALL_AUDIT_KEY / _FILE, or the data dir's)
        self.audit_key = audit.load_key(self.settings)
        audit.use_key(self.engine, self.audit_key)
        self.estimates = WaitEstimates(self.settings, self.engine, self.clock, self.live_stale_s)

    def hall(self, code: str) -> HallDef:
        """The configured hall, or NotFound."""
        try:
            return self.settings.hall(code)
        except KeyError:
            raise NotFound(f"no hall with code {code!r}") from None

    def service(self, code: str) -> Any:
        """The catalog's service, or NotFound."""
        try:
            return self.settings.catalog.service(code)
        except KeyError:
            raise NotFound(f"no service with code {code!r}", "unknown_service") from None

    def uow(self, hall: HallDef) -> UnitOfWork:
        """A unit of work (one write transaction) in a hall."""
        return UnitOfWork(self, hall)

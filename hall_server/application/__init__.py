"""The application layer: commands in, domain rules, one transaction each, effects after the commit.

- `hall.HallApp`: the use cases as one object (each method one command and its handler);
- `issuing`, `calling`, `windows`: the handlers, each "unit of work, domain rule, commit";
- `uow.UnitOfWork`: the transaction, seq, event and audit rows, number allocation, locks;
- `bus.Bus`: what happens after a commit (broadcast, voice, print, SMS), failures logged only;
- `views.Views`: the read models; `estimates.WaitEstimates`: the hall's live state per change.
"""
from hall_server.application.bus import Bus
from hall_server.application.common import CITIZEN, SYSTEM, Actor, Clock, Forbidden, NotFound, Outcome, utc_now
from hall_server.application.hall import HallApp, ticket_rows_for

__all__ = ["CITIZEN", "SYSTEM", "Actor", "Bus", "Clock", "Forbidden", "HallApp", "NotFound", "Outcome",
           "ticket_rows_for", "utc_now"]

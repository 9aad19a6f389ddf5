"""A small counter client over the REST API, for hardware keypads and the simulator.

It speaks exactly the API the counter page uses (/api/v1, bearer token). Every refusal, HTTP or
network, raises one exception type, CounterError, so a keypad loop has a single thing to catch.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

import requests

log = logging.getLogger(__name__)

OUTCOMES = ("served", "referred", "incomplete_documents", "rejected", "info_only")


class CounterError(Exception):
    """The server refused an action (status 4xx/5xx, its error code and message), or was unreachable (status 0)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class CounterClient:
    """One window of one hall, as a clerk (or a keypad acting for one) works it."""

    def __init__(self, base_url: str, hall: str, window: int, token: str | None = None,
                 session: requests.Session | None = None, timeout: float = 10) -> None:
        if isinstance(window, bool) or not isinstance(window, int) or not 1 <= window <= 999:
            raise ValueError("window must be a number from 1 to 999")
        if not hall:
            raise ValueError("hall is required")
        self.base_url = base_url.rstrip("/")
        self.hall = hall
        self.window_number = window  # `window()` is the method that reads the window's state
        self.token = token
        # A shared session is fine (the simulator runs many clients on one): the token goes per request.
        self.session = session or requests.Session()
        self.timeout = timeout

    # ----- plumbing -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, json: dict[str, Any] | None = None) -> Any:
        """Send one request; the decoded JSON body, None for 204, CounterError otherwise."""
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = f"{self.base_url}/api/v1{path}"
        try:
            resp = self.session.request(method, url, json=json, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            log.warning("counter %s/%s: %s %s failed: %s", self.hall, self.window_number, method, path, exc)
            raise CounterError(0, "network_error", str(exc)) from exc
        if resp.status_code == 204:
            return None
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.ok:
            if data is None:
                raise CounterError(resp.status_code, "invalid_response", "the server sent no JSON")
            return data
        err = data.get("error") if isinstance(data, dict) else None
        if not isinstance(err, dict):
            err = {"code": f"http_{resp.status_code}", "message": resp.text[:200]}
        code, message = str(err.get("code") or f"http_{resp.status_code}"), str(err.get("message") or "")
        log.info("counter %s/%s: %s %s -> %s %s", self.hall, self.window_number, method, path, resp.status_code, code)
        raise CounterError(resp.status_code, code, message)

    def _window(self, action: str = "", json: dict[str, Any] | None = None, method: str = "POST") -> Any:
        path = f"/halls/{quote(self.hall, safe='')}/windows/{self.window_number}"
        return self._request(method, path + (f"/{action}" if action else ""), json)

    # ----- session ------------------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict[str, Any]:
        """Log in as a staff user; keeps the token and returns the user."""
        data = self._request("POST", "/auth/login", {"username": username, "password": password})
        self.token = data["token"]
        return data["user"]

    def logout(self) -> None:
        """Revoke the token on the server and forget it."""
        try:
            self._request("POST", "/auth/logout")
        finally:
            self.token = None

    # ----- the window ---------------------------------------------------------------------------
    def sign_in(self) -> dict[str, Any]:
        """Take this window (one clerk, one window); returns the window view."""
        return self._window("sign-in")

    def sign_out(self) -> dict[str, Any]:
        """Leave the window (the current ticket must be finished first)."""
        return self._window("sign-out")

    def pause(self) -> dict[str, Any]:
        """Take a break: the window stops receiving calls."""
        return self._window("pause")

    def resume(self) -> dict[str, Any]:
        """End the break."""
        return self._window("resume")

    def window(self) -> dict[str, Any]:
        """The window's state, current ticket, ranked waiting list and parked tickets."""
        return self._window(method="GET")

    # ----- tickets ------------------------------------------------------------------------------
    def call_next(self) -> dict[str, Any] | None:
        """Call the next ticket the policy picks; None when nothing this window serves is waiting."""
        return self._window("call-next")

    def recall(self) -> dict[str, Any]:
        """Call the current ticket again (past the hall's recall limit it becomes a no-show)."""
        return self._window("recall")

    def start(self) -> dict[str, Any]:
        """The citizen is at the window: start serving."""
        return self._window("start")

    def complete(self, outcome: str = "served") -> dict[str, Any]:
        """Finish the current ticket with an outcome (served, referred, incomplete_documents, ...)."""
        return self._window("complete", {"outcome": outcome})

    def no_show(self) -> dict[str, Any]:
        """The called citizen did not come."""
        return self._window("no-show")

    def transfer(self, service: str | None = None, window: int | None = None,
                 ticket: str | None = None) -> dict[str, Any]:
        """Send the current ticket (or a named one) to another service or window; it keeps its place."""
        body: dict[str, Any] = {}
        if service is not None:
            body["service"] = service
        if window is not None:
            body["window"] = window
        if ticket is not None:
            body["ticket"] = ticket
        return self._window("transfer", body)

    def park(self) -> dict[str, Any]:
        """Put the current ticket aside; call it back later with call(number)."""
        return self._window("park")

    def call(self, ticket: str, reason: str | None = None) -> dict[str, Any]:
        """Call a ticket out of order (reason required, audited) or resume one parked here."""
        body: dict[str, Any] = {"ticket": ticket}
        if reason is not None:
            body["reason"] = reason
        return self._window("call", body)

"""Fuzz every operation of /api/v1/openapi.json with Schemathesis: no input gives a 5xx.

Each operation gets cases that fit its schema (positive) and cases that do not (negative), sent by
each kind of caller: nobody, a kiosk, a board, a clerk signed in at window 1, a supervisor. The
document is enriched with values that exist here (the hall code, window numbers, service codes, a
ticket's token and number, a file number) beside the schema's own types, so the cases reach past
"no such hall"; issuing gets a pass of its own with the hall and a known service pinned, and must
both issue (201) and refuse a closed service with its documented 409 service_closed. Some negative
cases drop the Authorization header on purpose (a 401 is then right).
The server is the app in process (Flask test client, threading mode): fastest. Every 4xx must have
the contract's error shape; the figures go to the terminal summary and test-artifacts/api-fuzz.json.

About 2-3 minutes on a small machine; HALL_FUZZ_EXAMPLES scales it (cases per operation and mode),
HALL_FUZZ_RANDOM=1 draws new cases instead of the same reproducible ones each run.
"""
from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest

from config import load_settings
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.slow
schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is in the test extras (setup.cfg)")

EXAMPLES = int(os.environ.get("HALL_FUZZ_EXAMPLES", "120"))
RANDOM = os.environ.get("HALL_FUZZ_RANDOM") == "1"
ACTORS = ("nobody", "kiosk", "board", "clerk", "supervisor")
# drawn with these weights: most operations are staff's, and a refused token stops a case at the door
DRAW = ("nobody", "board", "kiosk", "kiosk", "clerk", "clerk", "clerk", "supervisor", "supervisor", "supervisor")


class _Summary:
    """Prints the fuzz run's figures in pytest's terminal summary, where they can be quoted."""

    def __init__(self, line: str) -> None:
        self.line = line

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        terminalreporter.write_sep("-", "api fuzz")
        terminalreporter.write_line(self.line)


def _either(known: list[Any], schema: dict[str, Any]) -> dict[str, Any]:
    """A schema that draws a value that exists here or anything of the declared type."""
    return {"anyOf": [{"enum": known}, schema]} if known else schema


def _enrich(doc: dict[str, Any], known: dict[str, list[Any]]) -> dict[str, Any]:
    """Give path parameters and body fields values that exist in this hall, beside their own types."""
    for item in doc["paths"].values():
        for op in item.values():
            for p in op.get("parameters", []):
                if p["in"] != "path":
                    continue
                if p["name"] == "hall":
                    p["schema"] = _either(["kfs"], p["schema"])
                elif p["name"] == "number" and p["schema"].get("type") == "integer":
                    p["schema"] = _either(list(range(1, 10)), p["schema"])
                elif p["name"] == "number":
                    p["schema"] = _either(known["files"], p["schema"])
                elif p["name"] == "token":
                    p["schema"] = _either(known["tokens"], p["schema"])
                elif p["name"] == "call_id":
                    p["schema"] = _either(known["calls"], p["schema"])
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            props = body.get("properties", {})
            for name, values in (("service", known["services"]), ("ticket", known["numbers"]),
                                 ("window", list(range(1, 10))), ("file", known["files"]),
                                 ("request_file", known["files"])):
                if name in props:
                    props[name] = _either(values, props[name])
    return doc


@pytest.fixture
def hall(tmp_path):
    """A hall at work: tickets waiting, one called at window 1, a request file; a token per actor.

    A ticket is issued only for a service an open window serves (409 service_closed otherwise):
    windows 1 (the fuzz's clerk), 5 and 9 open for the tickets below, then window 9 signs out, so the
    fuzz meets both an open service (building permits, rent payments) and closed ones (birth
    certificates, general inquiries)."""
    from hall_server.factory import create_app
    app = create_app(load_settings(env={"HALL_TTS_ENGINE": "none"}, data_dir=tmp_path, async_mode="threading"))
    rt = app.extensions["hall_runtime"]
    rt.auth.add_user("clerk1", "password1", "clerk", windows=[1, 2, 3])
    rt.auth.add_user("sup", "password1", "supervisor")
    for n in (5, 9):  # rent payments (5); birth certificates and general inquiries (9): not the fuzz's clerk
        rt.auth.add_user(f"clerk{n}", "password1", "clerk", windows=[n])
    client = app.test_client()

    def token(actor: str) -> dict[str, str]:
        if actor == "nobody":
            return {}
        if actor in ("kiosk", "board"):
            return {"Authorization": "Bearer " + rt.auth.add_device("kfs", f"{actor}-fuzz", actor)}
        user = {"clerk": "clerk1", "supervisor": "sup"}[actor]
        r = client.post("/api/v1/auth/login", json={"username": user, "password": "password1"})
        return {"Authorization": "Bearer " + r.json["token"]}

    headers = {a: token(a) for a in ACTORS}
    clerk = headers["clerk"]
    assert client.post("/api/v1/halls/kfs/windows/1/sign-in", headers=clerk).status_code == 200
    for n in (5, 9):
        r = client.post("/api/v1/auth/login", json={"username": f"clerk{n}", "password": "password1"})
        nine = {"Authorization": "Bearer " + r.json["token"]}
        assert client.post(f"/api/v1/halls/kfs/windows/{n}/sign-in", headers=nine).status_code == 200
    issued = [client.post("/api/v1/halls/kfs/tickets", json={"service": s}, headers=headers["kiosk"])
              for s in ("building_permit", "building_permit", "rent_payment", "birth_certificate")]
    assert [r.status_code for r in issued] == [201] * 4, [r.get_data(as_text=True) for r in issued]
    issued = [r.json for r in issued]
    assert client.post("/api/v1/halls/kfs/windows/9/sign-out", headers=nine).status_code == 200
    called = client.post("/api/v1/halls/kfs/windows/1/call-next", headers=clerk)
    assert called.status_code == 200
    file = client.post("/api/v1/halls/kfs/files", headers=clerk, json={
        "service": "building_permit", "citizen_name": "Amal Hassan", "national_id": "29001011234567",
        "mobile": "01012345678"})
    assert file.status_code == 201, file.get_data(as_text=True)
    known = {"tokens": [t["token"] for t in issued], "numbers": [t["number"] for t in issued],
             "services": ["building_permit", "rent_payment", "birth_certificate", "general_inquiry"],
             "files": [file.json["number"]], "calls": [1, 2, 3]}
    return app, client, headers, token, known


def test_no_operation_answers_5xx(hall, request):
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode

    app, client, headers, token, known = hall
    doc = _enrich(client.get("/api/v1/openapi.json").json, known)
    schema = schemathesis.openapi.from_dict(doc)
    schema.app = app
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40

    statuses: Counter[int] = Counter()
    cases: Counter[str] = Counter()
    failures: list[str] = []
    unsatisfiable: list[str] = []
    issuing: Counter[int] = Counter()  # POST /halls/{hall}/tickets: what the fuzz's tickets got
    issue_doc = doc["paths"]["/halls/{hall}/tickets"]["post"]["responses"]
    started = time.monotonic()
    def fuzz(op: Any, mode: Any, examples: int, draw: tuple[str, ...] = DRAW, pin: Any = None) -> None:
        """Send `examples` cases of one operation in one mode, each as a drawn actor; note what comes back.
        `pin(case, data)` may set some of a case's values before it is sent (drawing from `data`)."""

        @settings(max_examples=examples, deadline=None, database=None, derandomize=not RANDOM,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        @given(case=op.as_strategy(mode), actor=st.sampled_from(draw), data=st.data())
        def send(case: Any, actor: str, data: Any) -> None:
            if pin is not None:
                pin(case, data)
            response = case.call(headers=dict(headers[actor]))
            cases[mode.value] += 1
            statuses[response.status_code] += 1
            if response.status_code >= 500:
                failures.append(f"{response.status_code} {case.method} {case.formatted_path} as {actor}: "
                                f"{case.as_curl_command()} -> {response.text[:200]}")
            elif response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
                body = response.json()
                if not (isinstance(body, dict) and set(body) == {"error"} and body["error"].get("code")):
                    failures.append(f"{response.status_code} without the error shape: {case.method} "
                                    f"{case.formatted_path}: {response.text[:200]}")
            if op.path == "/halls/{hall}/tickets" and op.method.upper() == "POST":
                issuing[response.status_code] += 1
                if str(response.status_code) not in issue_doc:
                    failures.append(f"{response.status_code} is not documented for issuing: {response.text[:200]}")
                if response.status_code == 409 and response.json()["error"]["code"] != "service_closed":
                    failures.append(f"409 from issuing other than the documented service_closed: "
                                    f"{response.text[:200]}")
            if op.path == "/auth/logout" and response.status_code == 204:
                headers[actor] = token(actor)  # the fuzz logged this actor out: a new token

        try:
            send()
        except Unsatisfiable:  # nothing in this operation can be made to break its schema
            unsatisfiable.append(f"{op.method.upper()} {op.path} {mode.value}")

    # Issuing itself, first: the hall and a known service pinned (a free string rarely names them), the
    # rest of the request drawn. Some services are open (201), some closed (409 service_closed, documented).
    def pin_issue(case: Any, data: Any) -> None:
        case.path_parameters["hall"] = "kfs"
        if isinstance(case.body, dict):
            case.body["service"] = data.draw(st.sampled_from(known["services"]))
            case.body.pop("request_file", None)  # a request file chooses the service itself
    issue_op = next(op for op in operations if op.path == "/halls/{hall}/tickets" and op.method.upper() == "POST")
    fuzz(issue_op, GenerationMode.POSITIVE, EXAMPLES, draw=("kiosk", "kiosk", "clerk", "supervisor"), pin=pin_issue)
    assert issuing[201] > 0 and issuing[409] > 0, issuing  # tickets issued; closed services refused, documented

    for op in operations:
        fuzz(op, GenerationMode.POSITIVE, EXAMPLES)
        fuzz(op, GenerationMode.NEGATIVE, EXAMPLES // 2)
    elapsed = time.monotonic() - started

    total = sum(cases.values())
    line = (f"api fuzz: {len(operations)} operations, {total} cases ({cases['positive']} positive, "
            f"{cases['negative']} negative; {len(unsatisfiable)} operation/mode pairs had no negative case), "
            f"{sum(n for s, n in statuses.items() if s >= 500)} answers 5xx, in {elapsed:.0f} s; statuses "
            + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items()))
            + "; issuing " + ", ".join(f"{s}: {n}" for s, n in sorted(issuing.items())))
    print(line)
    request.config.pluginmanager.register(_Summary(line), f"hall-api-fuzz-{id(line)}")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "api-fuzz.json").write_text(json.dumps({
        "operations": len(operations), "cases": dict(cases), "statuses": {str(k): v for k, v in statuses.items()},
        "issuing": {str(k): v for k, v in issuing.items()},
        "seconds": round(elapsed, 1), "failures": failures, "no_negative_case": unsatisfiable}, indent=1))

    assert not failures, "\n".join(failures[:20])
    assert total >= len(operations) * min(EXAMPLES, 5)  # the run reached every operation
    assert client.get("/api/v1/halls/kfs/queue").status_code == 200  # and the server is still fine

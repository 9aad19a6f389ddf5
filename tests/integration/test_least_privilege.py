"""Least privilege in the application layer: a clerk acts on his window's ticket; keys are scoped."""
import pytest

from hall_server.application import Actor, Forbidden
from hall_server.domain.errors import InvalidInput
from tests.integration.test_queue_app import staff

KIOSK1 = Actor("device", "kiosk-1", "kiosk", hall="kfs")
KIOSK2 = Actor("device", "kiosk-2", "kiosk", hall="kfs")


@pytest.fixture
def app(make_app, db_url):
    return make_app(db_url)


def test_a_clerk_cannot_take_another_windows_citizen(app):
    c1, c2 = staff(app, 1, 1), staff(app, 2, 2)
    t = app.issue_ticket("kfs", "building_permit")[0]  # windows 1 and 2 both serve it
    assert app.call_next("kfs", 1, c1)["number"] == t["number"]
    with pytest.raises(Forbidden) as err:
        app.transfer("kfs", 2, c2, to_window=2, ticket_ref=t["number"])
    assert err.value.code == "not_your_ticket"
    assert app.window_view("kfs", 1)["current"]["number"] == t["number"]  # window 1 kept its citizen
    # a waiting ticket may still be sent on by any clerk, and window 1 may transfer its own
    w = app.issue_ticket("kfs", "building_permit")[0]
    assert app.transfer("kfs", 2, c2, service="demolition_permit", ticket_ref=w["number"])["status"] == "waiting"
    assert app.transfer("kfs", 1, c1, to_window=2, ticket_ref=t["number"])["target_window"] == 2


def test_an_idempotency_key_belongs_to_its_device_and_its_whole_request(app):
    staff(app, 1, 1)  # window 1 open: building and demolition permits are issued
    first, created = app.issue_ticket("kfs", "building_permit", idempotency_key="tap-1", actor=KIOSK1,
                                      phone="01012345678")
    again, created_again = app.issue_ticket("kfs", "building_permit", idempotency_key="tap-1", actor=KIOSK1,
                                            phone="01012345678")
    assert created and not created_again and again["id"] == first["id"]
    # another device reusing the key learns nothing (not the ticket, not its token)
    with pytest.raises(InvalidInput) as err:
        app.issue_ticket("kfs", "building_permit", idempotency_key="tap-1", actor=KIOSK2, phone="01012345678")
    assert err.value.code == "idempotency_mismatch"
    # the same device with another request under the same key is refused, not silently answered
    for changed in ({"priority": "elderly"}, {"phone": "01099999999"}, {"phone": None}):
        kw = {"phone": "01012345678", **changed}
        with pytest.raises(InvalidInput):
            app.issue_ticket("kfs", "building_permit", idempotency_key="tap-1", actor=KIOSK1, **kw)
    with pytest.raises(InvalidInput):
        app.issue_ticket("kfs", "demolition_permit", idempotency_key="tap-1", actor=KIOSK1, phone="01012345678")


def test_staff_act_only_in_the_halls_their_account_carries(app):
    from hall_server.application.auth import Auth, require
    auth = Auth(app.engine)
    uid = auth.add_user("amal", "password1", "clerk", halls=["kfs"])
    other = auth.add_user("omar", "password1", "clerk", halls=["mit-ghamr"])
    everywhere = auth.add_user("gov", "password1", "supervisor")  # no halls: the governorate's account
    amal = Actor("user", "amal", "clerk", user_id=uid, halls=("kfs",))
    omar = Actor("user", "omar", "clerk", user_id=other, halls=("mit-ghamr",))
    gov = Actor("user", "gov", "supervisor", user_id=everywhere)
    assert app.set_window_state("kfs", 1, "sign_in", amal)["state"] == "open"
    with pytest.raises(Forbidden) as err:
        app.set_window_state("kfs", 2, "sign_in", omar)
    assert err.value.code == "other_hall"
    with pytest.raises(Forbidden):
        app.issue_ticket("kfs", "building_permit", actor=Actor("device", "kiosk-9", "kiosk", hall="elsewhere"))
    app.set_window_state("kfs", 3, "open", gov)  # the governorate sees and acts everywhere
    assert require(amal, ("clerk",), "kfs") is amal
    with pytest.raises(Forbidden):
        require(omar, ("clerk",), "kfs")
    # the bearer token carries the account's halls
    token, _ = auth.login("omar", "password1")
    assert auth.resolve(token).halls == ("mit-ghamr",)


def test_a_full_national_id_only_for_the_citizen_at_the_clerks_window(app):
    from hall_server.application.files import FileDesk
    desk = FileDesk(app)
    c1, c2 = staff(app, 1, 1), staff(app, 2, 2)
    t = app.issue_ticket("kfs", "building_permit")[0]
    app.call_next("kfs", 1, c1)
    # window 2's clerk cannot open a file on window 1's citizen
    with pytest.raises(Forbidden):
        desk.create("kfs", "building_permit", "Amal Hassan", "29001011312345", None, [], c2, window=1)
    f = desk.create("kfs", "building_permit", "Amal Hassan", "29001011312345", None, [], c1, window=1)
    assert f["national_id"].endswith("2345") and f["national_id"].startswith("*")
    assert desk.get("kfs", f["number"], c1, reveal=True)["national_id"] == "29001011312345"
    with pytest.raises(Forbidden) as err:
        desk.get("kfs", f["number"], c2, reveal=True)  # not his citizen
    assert err.value.code == "not_your_file"
    assert desk.get("kfs", f["number"], c2)["national_id"].startswith("*")  # masked is fine
    # back office: only the file's department; clerks never move files between departments
    from hall_server.application.auth import Auth
    other_dept = [s.code for s in app.settings.catalog.sectors if s.code != f["department"]][0]
    bo_id = Auth(app.engine).add_user("bo", "password1", "back_office", departments=[other_dept])
    bo = Actor("user", "bo", "back_office", user_id=bo_id, departments=(other_dept,))
    with pytest.raises(Forbidden):
        desk.get("kfs", f["number"], bo, reveal=True)
    with pytest.raises(Forbidden):
        desk.move("kfs", f["number"], other_dept, c1)
    assert t["number"]

"""Each sign-in is a session kept on the server: signing out ends it for real, "sign out
everywhere" ends them all, and an idle one ends by itself."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.auth import service
from app.auth.models import User, UserSignIn
from app.db.transactions import write_transaction
from app.db.types import utcnow
from tests.conftest import app_context
from tests.helpers.web import Browserless


def signed_in(app, role="coordinator") -> Browserless:
    person = Browserless(app.test_client())
    assert person.sign_in(role).status_code == 303
    return person


def with_cookie_of(app, person: Browserless):
    """Another browser holding a copy of this person's session cookie."""
    thief = app.test_client()
    cookie = person.client.get_cookie("session")
    thief.set_cookie("session", cookie.value)
    return thief


def test_a_copied_cookie_is_useless_after_sign_out(app, catalog):
    person = signed_in(app)
    thief = with_cookie_of(app, person)
    assert thief.get(f"/patients/{catalog.patient}").status_code == 200
    assert person.post("/sign-out").status_code == 303
    again = thief.get(f"/patients/{catalog.patient}")
    assert again.status_code == 302 and "/sign-in" in again.headers["Location"]
    with app_context(app) as session:
        record = session.scalar(select(UserSignIn))
        assert record.ended_at is not None and record.end_reason == "signedOut"


def test_sign_out_everywhere_ends_every_sign_in_of_the_user(app, catalog):
    laptop, phone = signed_in(app), signed_in(app)
    other = signed_in(app, "fulfillment")
    assert phone.post("/sign-out-everywhere").status_code == 303
    assert laptop.get("/orders/").status_code == 302
    assert phone.get("/orders/").status_code == 302
    assert other.get("/orders/").status_code == 200


def test_an_admin_signs_a_user_out_everywhere(app, catalog):
    person = signed_in(app)
    admin = signed_in(app, "admin")
    assert "Sign out everywhere" in admin.get(f"/admin/users/{catalog.users['coordinator']}").text
    response = admin.post(f"/admin/users/{catalog.users['coordinator']}/sign-out-everywhere")
    assert response.status_code == 303
    assert person.get("/orders/").status_code == 302
    assert admin.get("/orders/").status_code == 200
    history = admin.get(f"/admin/users/{catalog.users['coordinator']}").text
    assert "Signed out everywhere" in history


@pytest.mark.parametrize("idle_minutes, still_in", [(5, True), (31, False)])
def test_an_idle_sign_in_ends(app, catalog, idle_minutes, still_in):
    person = signed_in(app)
    assert app.config["SESSION_IDLE_MINUTES"] == 30
    with app_context(app) as session:
        session.execute(
            update(UserSignIn).values(last_seen_at=utcnow() - timedelta(minutes=idle_minutes))
        )
        session.commit()
    response = person.get("/orders/")
    assert response.status_code == (200 if still_in else 302)
    with app_context(app) as session:
        record = session.scalar(select(UserSignIn))
        if still_in:  # the request counts as activity
            assert utcnow() - record.last_seen_at < timedelta(minutes=1)
        else:
            assert record.end_reason == "idle"


def test_a_password_reset_and_a_deactivation_end_sign_ins(app, catalog):
    person = signed_in(app, "fulfillment")
    admin = signed_in(app, "admin")
    user_id = catalog.users["fulfillment"]
    admin.post(f"/admin/users/{user_id}/password", {"password": "a brand new password"})
    assert person.get("/orders/").status_code == 302
    person = signed_in(app, "coordinator")
    admin.post(f"/admin/users/{catalog.users['coordinator']}/deactivate")
    assert person.get("/orders/").status_code == 302


def test_the_api_never_reads_or_sets_the_cookie_session(app, catalog, api_key):
    """The API authenticates by key only: a signed-in browser's cookie neither signs an API
    call in nor is touched by one, and no API answer sets a cookie or varies by one."""
    person = signed_in(app)
    browser = person.client
    assert browser.get("/api/v3/site").status_code == 401  # the cookie alone: no key, refused
    for path in ("/api/v3/site", f"/api/v3/patient/{catalog.patient}", "/api/v3/order/999999"):
        answer = browser.get(path, headers={"Impilo-API-Key": api_key})
        assert answer.status_code in (200, 404)
        assert "Set-Cookie" not in answer.headers
        assert "Cookie" not in answer.headers.get("Vary", "")
    placed = browser.post(
        "/api/v3/order",
        json={
            "patient": {"id": catalog.patient},
            "orderItems": [{"item": {"id": catalog.items["strips"]}, "count": 1}],
        },
        headers={"Impilo-API-Key": api_key},
    )
    assert placed.status_code == 201 and "Set-Cookie" not in placed.headers
    # The web sign-in is as it was.
    assert browser.get(f"/patients/{catalog.patient}").status_code == 200


def test_an_unexpected_error_shows_the_error_page_to_a_signed_in_user(app, catalog):
    """A bug in a page answers 500 with the error page, which still shows who is signed in
    (not the database-unavailable page: the session is rolled back, not closed)."""
    from sqlalchemy import event

    from app.extensions import db

    person = signed_in(app)

    def fail_on(conn, cursor, statement, parameters, context, executemany):
        if "order_status_count" in statement:
            raise RuntimeError("a bug")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", fail_on)
    try:
        answer = person.get("/orders/")
    finally:
        event.remove(engine, "before_cursor_execute", fail_on)
    assert answer.status_code == 500
    assert "Something went wrong" in answer.text
    assert "Coordinator Tester" in answer.text and "Sign out" in answer.text


def test_an_idle_sign_in_is_ended_and_no_other_sign_in_with_it(app, catalog):
    person, other = signed_in(app), signed_in(app, "fulfillment")
    with app_context(app) as session:
        session.execute(
            update(UserSignIn)
            .where(UserSignIn.user_id == catalog.users["coordinator"])
            .values(last_seen_at=utcnow() - timedelta(minutes=31))
        )
        session.commit()
    assert person.get("/orders/").status_code == 302
    assert person.get("/orders/").status_code == 302
    with app_context(app) as session:
        ends = {
            s.user_id: (s.ended_at is not None, s.end_reason)
            for s in session.scalars(select(UserSignIn))
        }
    assert ends == {
        catalog.users["coordinator"]: (True, "idle"),
        catalog.users["fulfillment"]: (False, None),
    }
    assert other.get("/orders/").status_code == 200


def test_activity_is_written_on_the_sign_in_that_was_used_and_no_other(app, catalog):
    person, other = signed_in(app), signed_in(app, "fulfillment")
    long_ago = utcnow() - timedelta(minutes=10)
    with app_context(app) as session:
        session.execute(update(UserSignIn).values(last_seen_at=long_ago))
        session.commit()
    assert person.get("/orders/").status_code == 200
    with app_context(app) as session:
        seen = {s.user_id: s.last_seen_at for s in session.scalars(select(UserSignIn))}
    assert seen[catalog.users["coordinator"]] > long_ago
    assert seen[catalog.users["fulfillment"]] == long_ago
    assert other.get("/orders/").status_code == 200


def test_a_sign_in_is_open_for_exactly_its_idle_time_and_activity_is_written_each_minute(
    app, catalog, monkeypatch
):
    now = utcnow()
    monkeypatch.setattr(service, "utcnow", lambda: now)
    idle = timedelta(minutes=30)
    with app.app_context(), write_transaction() as session:
        user = session.get(User, catalog.users["coordinator"])
        sign_in, token = UserSignIn.start(user)
        sign_in.last_seen_at = now - idle
        session.add(sign_in)
    with app.app_context():
        assert service.signed_in_user(token, idle).id == catalog.users["coordinator"]
    with app_context(app) as session:
        record = session.scalar(select(UserSignIn))
        assert (record.ended_at, record.last_seen_at) == (None, now)
        record.last_seen_at = now - service.LAST_SEEN_PRECISION + timedelta(microseconds=1)
        session.commit()
    with app.app_context():
        assert service.signed_in_user(token, idle) is not None
    with app_context(app) as session:
        assert session.scalar(select(UserSignIn.last_seen_at)) < now
        session.execute(update(UserSignIn).values(last_seen_at=now - service.LAST_SEEN_PRECISION))
        session.commit()
    with app.app_context():
        assert service.signed_in_user(token, idle) is not None
    with app_context(app) as session:
        assert session.scalar(select(UserSignIn.last_seen_at)) == now


def test_signing_out_everywhere_ends_the_open_sign_ins_saying_so_and_leaves_ended_ones(
    app, catalog
):
    laptop, phone = signed_in(app), signed_in(app)
    assert laptop.post("/sign-out").status_code == 303
    with app_context(app) as session:
        signed_out_at = session.scalar(select(UserSignIn.ended_at).where(UserSignIn.id == 1))
    assert phone.post("/sign-out-everywhere").status_code == 303
    with app_context(app) as session:
        ends = [
            (s.id, s.ended_at is not None, s.end_reason)
            for s in session.scalars(select(UserSignIn).order_by(UserSignIn.id))
        ]
        assert session.scalar(select(UserSignIn.ended_at).where(UserSignIn.id == 1)) == (
            signed_out_at
        )
    assert ends == [(1, True, "signedOut"), (2, True, "signedOutEverywhere")]


def test_a_sign_in_ended_while_a_request_finds_it_idle_keeps_the_end_it_was_given(app, catalog):
    """A request finds its sign-in idle, but before it writes that end, another request signs
    the user out everywhere: the sign-in keeps that end and its reason, not "idle"."""
    from sqlalchemy import event

    from app.db.transactions import commit_separately
    from app.extensions import db

    person = signed_in(app)
    with app_context(app) as session:
        session.execute(update(UserSignIn).values(last_seen_at=utcnow() - timedelta(minutes=31)))
        session.commit()
        engine = db.engine
    ended_at = utcnow() - timedelta(seconds=5)
    ended_meanwhile = []

    def sign_out_everywhere_meanwhile(conn, cursor, statement, parameters, context, many):
        if ended_meanwhile or "token_hash" not in statement:
            return  # only after the request's own look-up of its sign-in
        ended_meanwhile.append(statement)
        with commit_separately(engine) as other:
            other.execute(
                update(UserSignIn).values(ended_at=ended_at, end_reason="signedOutEverywhere")
            )

    event.listen(engine, "after_cursor_execute", sign_out_everywhere_meanwhile)
    try:
        answer = person.get("/orders/")
    finally:
        event.remove(engine, "after_cursor_execute", sign_out_everywhere_meanwhile)
    assert ended_meanwhile and answer.status_code == 302
    with app_context(app) as session:
        record = session.scalar(select(UserSignIn))
    assert (record.ended_at, record.end_reason) == (ended_at, "signedOutEverywhere")

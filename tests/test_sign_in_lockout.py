"""Failed sign-ins hold back the client that fails, never the account: a stranger guessing
from elsewhere cannot keep the real user out (OWASP's device cookies; app/auth/throttle.py).
The throttle's clock is a fake one the tests move on (SIGN_IN_CLOCK), so no test waits."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.auth import service as auth_service
from app.auth import throttle
from app.auth.models import SignInAttempt, UserSignIn
from app.db.types import utcnow
from tests.conftest import PASSWORD, app_context
from tests.helpers.web import Browserless, csrf_token

EMAIL = "coordinator@example.org"
STRANGER = "203.0.113.9"


class FakeClock:
    """The throttle's time: now, until a test moves it on (from any thread)."""

    def __init__(self):
        self.now = utcnow()
        self.lock = threading.Lock()

    def __call__(self):
        with self.lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(app, monkeypatch):
    clock = FakeClock()
    monkeypatch.setitem(app.config, "SIGN_IN_CLOCK", clock)
    return clock


def attempt(browser, email=EMAIL, password="wrong password", address="127.0.0.1"):
    token = csrf_token(browser.get("/sign-in", environ_base={"REMOTE_ADDR": address}).text)
    return browser.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def signed_in_once(app, address: str):
    """A browser that has signed in before (it keeps its device cookie), now signed out."""
    browser = app.test_client()
    assert attempt(browser, password=PASSWORD, address=address).status_code == 303
    assert browser.get_cookie("orderly_device", path="/sign-in") is not None
    browser.delete_cookie("session")
    return browser


def error_of(page) -> str:
    return re.search(r'class="error-summary" role="alert">([^<]*)<', page.text).group(1)


def stored(app, *where) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(SignInAttempt.id)).where(*where))


def test_a_stranger_failing_elsewhere_never_keeps_the_user_out(app, catalog, clock):
    """A stranger loops on wrong passwords for the user's email, waiting each time as long as
    told and trying again. Meanwhile the user signs in, again and again: from the browser they
    used before (at the stranger's very address: an office behind one address) and from a
    new browser elsewhere."""
    laptop = signed_in_once(app, STRANGER)
    stranger_answers: list[int] = []
    stop = threading.Event()

    def stranger():
        browser = app.test_client()
        while not stop.is_set():
            answer = attempt(browser, address=STRANGER)
            stranger_answers.append(answer.status_code)
            if answer.status_code == 429:
                clock.advance(int(answer.headers["Retry-After"]) + 1)

    def until(condition):
        deadline = time.monotonic() + 60
        while not condition():
            assert time.monotonic() < deadline, stranger_answers
            time.sleep(0.01)

    thread = threading.Thread(target=stranger)
    thread.start()
    users_answers = []
    try:
        for round_ in range(4):
            # The stranger has been made to wait (again) before each of the user's tries.
            refused_before = stranger_answers.count(429)
            until(lambda: stranger_answers.count(429) > refused_before)  # noqa: B023
            for browser, address in (
                (laptop, STRANGER),
                (app.test_client(), f"198.51.100.{round_}"),
            ):
                answer = attempt(browser, password=PASSWORD, address=address)
                users_answers.append(answer.status_code)
                browser.delete_cookie("session")
    finally:
        stop.set()
        thread.join(timeout=60)
    assert users_answers == [303] * 8
    # The stranger stayed refused: never more than five passwords checked between two waits.
    runs = "".join("x" if s == 401 else "." for s in stranger_answers).split(".")
    assert max(len(run) for run in runs) <= 5
    assert set(stranger_answers) == {401, 429} and stranger_answers.count(429) >= 4
    with app_context(app) as session:
        sign_ins = session.scalar(
            select(func.count(UserSignIn.id)).where(
                UserSignIn.user_id == catalog.users["coordinator"]
            )
        )
    assert sign_ins == 1 + 8
    assert stored(app, SignInAttempt.succeeded.is_(True)) == 1 + 8
    assert stored(app, SignInAttempt.succeeded.is_(True), SignInAttempt.trusted.is_(True)) == 4
    assert stored(app, SignInAttempt.succeeded.is_(False)) == stranger_answers.count(401)


@pytest.mark.parametrize("email", [EMAIL, "nobody@example.org"])
def test_a_client_that_failed_five_times_is_told_how_long_to_wait(app, catalog, clock, email):
    """The same words whether or not an account has the email: the wait comes from the
    client's own failures, never from the account's existence."""
    page = app.test_client().get("/sign-in").text
    assert "15 minutes" not in page and "waits a minute" in page
    browser = app.test_client()
    for _ in range(5):
        failed = attempt(browser, email=email)
        assert failed.status_code == 401
        assert error_of(failed) == "That email and password do not match an active account."
    refused = attempt(browser, email=email, password=PASSWORD)
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
    assert error_of(refused) == "Too many sign-in attempts. Try again in 60 seconds."
    clock.advance(59)
    refused = attempt(browser, email=email, password=PASSWORD)
    assert error_of(refused) == "Too many sign-in attempts. Try again in 1 second."
    clock.advance(1)
    assert attempt(browser, email=email, password=PASSWORD).status_code == (
        303 if email == EMAIL else 401
    )
    # Refused attempts are not counted: five failures, then the one after the wait.
    assert stored(app) == 6


def test_each_further_wait_in_a_row_is_twice_as_long_until_a_success(app, catalog, clock):
    browser = app.test_client()
    for wait in (60, 120, 240, 480, 900, 900):
        for _ in range(5):
            assert attempt(browser).status_code == 401
        refused = attempt(browser)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == str(wait)
        clock.advance(wait)
    assert "Try again in 15 minutes." in error_of(refused)
    assert attempt(browser, password=PASSWORD).status_code == 303
    browser.delete_cookie("orderly_device", path="/sign-in")  # the address again
    browser.delete_cookie("session")
    for _ in range(5):
        assert attempt(browser).status_code == 401
    assert attempt(browser).headers["Retry-After"] == "60"


def test_guessing_from_many_addresses_holds_back_only_browsers_new_to_the_account(
    app, catalog, clock, monkeypatch
):
    monkeypatch.setitem(app.config, "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT", "8/hour")
    laptop = signed_in_once(app, "192.0.2.1")
    for n, failures in enumerate((5, 3)):
        for _ in range(failures):
            assert attempt(app.test_client(), address=f"203.0.113.{n}").status_code == 401
    clock.advance(60)
    new_browser = app.test_client()
    refused = attempt(new_browser, password=PASSWORD, address="198.51.100.7")
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(3600 - 60)
    assert attempt(laptop, password=PASSWORD, address="198.51.100.7").status_code == 303
    clock.advance(3600 - 60)
    assert attempt(new_browser, password=PASSWORD, address="198.51.100.7").status_code == 303


def test_the_device_cookie_is_signed_kept_from_scripts_and_names_its_user(app, catalog, clock):
    browser = app.test_client()
    signed_in = attempt(browser, password=PASSWORD, address=STRANGER)
    cookie = next(c for c in signed_in.headers.getlist("Set-Cookie") if "orderly_device" in c)
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/sign-in" in cookie
    assert "Max-Age=31536000" in cookie
    token = browser.get_cookie("orderly_device", path="/sign-in").value
    # The stranger's address is waiting for the fulfilment account.
    for _ in range(5):
        assert (
            attempt(app.test_client(), "fulfillment@example.org", address=STRANGER).status_code
            == 401
        )
    for presented in (token, token[:-2] + ("AA" if not token.endswith("AA") else "BB")):
        # The coordinator's cookie, or a forged one, makes no trusted client of the fulfilment
        # account: the address's wait holds.
        other = app.test_client()
        other.set_cookie("orderly_device", presented, path="/sign-in")
        answer = attempt(other, "fulfillment@example.org", PASSWORD, address=STRANGER)
        assert answer.status_code == 429
    # While that address waits for the coordinator account too, the coordinator's own
    # cookie still lets the coordinator in from there.
    for _ in range(5):
        assert attempt(app.test_client(), address=STRANGER).status_code == 401
    again = app.test_client()
    again.set_cookie("orderly_device", token, path="/sign-in")
    assert attempt(again, password=PASSWORD, address=STRANGER).status_code == 303


def test_a_new_password_ends_every_clients_wait(app, catalog, clock):
    browser = app.test_client()
    for _ in range(5):
        assert attempt(browser).status_code == 401
    assert attempt(browser, password=PASSWORD).status_code == 429
    admin = Browserless(app.test_client())
    assert admin.sign_in("admin").status_code == 303
    reset = admin.post(
        f"/admin/users/{catalog.users['coordinator']}/password",
        {"password": "a brand new password"},
    )
    assert reset.status_code == 303
    assert attempt(browser, password="a brand new password").status_code == 303


def test_addresses_of_one_ipv6_network_are_one_client(app, catalog, clock):
    """One subscriber is commonly given a whole /64: trying a new address of it for every
    attempt does not start a new count."""
    for n in range(5):
        assert attempt(app.test_client(), address=f"2001:db8:1:2::{n + 1}").status_code == 401
    assert attempt(app.test_client(), address="2001:db8:1:2:ffff::9").status_code == 429
    assert attempt(app.test_client(), address="2001:db8:1:3::1").status_code == 401


def test_sixteen_parallel_wrong_passwords_make_that_client_wait(app, catalog):
    """Five passwords are checked, the rest refused before theirs is (the count is not lost
    to parallel attempts); another client of the account is not held back."""
    origin = throttle.Origin("203.0.113.50")

    def attempt(_):
        with app.app_context():
            try:
                return auth_service.authenticate(
                    "coordinator@example.org", "wrong password!", origin
                )
            except throttle.TooManyAttempts as refused:
                return refused.retry_after
            finally:
                from app.extensions import db

                db.session.remove()

    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(attempt, range(16)))
    assert answers.count(None) == 5
    assert len([a for a in answers if a is not None and 0 < a <= 60]) == 11
    with app_context(app) as session:
        failed = select(func.count(SignInAttempt.id)).where(SignInAttempt.succeeded.is_(False))
        assert session.scalar(failed) == 5
    with app.app_context():
        elsewhere = throttle.Origin("198.51.100.50")
        user = auth_service.authenticate("coordinator@example.org", PASSWORD, elsewhere)
        assert user is not None and user.id == catalog.users["coordinator"]


def test_a_wait_of_two_minutes_or_more_is_told_in_whole_minutes_rounded_up(app, catalog, clock):
    """Waits of 60, 120 and 240 seconds in a row; the last one told again as it runs down:
    121 seconds left is "3 minutes", 120 is "2 minutes", 119 is in seconds."""
    browser = app.test_client()
    told = []
    for wait in (60, 120, 240):
        for _ in range(5):
            assert attempt(browser).status_code == 401
        refused = attempt(browser)
        assert refused.headers["Retry-After"] == str(wait)
        told.append(error_of(refused))
        if wait < 240:
            clock.advance(wait)
    for _ in range(3):
        clock.advance(119 if len(told) == 3 else 1)
        told.append(error_of(attempt(browser)))
    assert [t.removeprefix("Too many sign-in attempts. Try again in ") for t in told] == [
        "60 seconds.",
        "2 minutes.",
        "4 minutes.",
        "3 minutes.",
        "2 minutes.",
        "119 seconds.",
    ]


def test_an_ipv4_address_written_as_ipv6_is_that_ipv4_client(app, catalog, clock):
    for _ in range(5):
        assert attempt(app.test_client(), address="::ffff:203.0.113.5").status_code == 401
    assert attempt(app.test_client(), address="203.0.113.5").status_code == 429
    assert attempt(app.test_client(), address="::ffff:198.51.100.1").status_code == 401


def test_a_value_the_app_signed_for_something_else_is_no_device_cookie(app, catalog, clock):
    """Only a token signed as a device cookie makes a trusted client: the same list signed
    with the app's key for another purpose leaves the browser held back with its address."""
    from itsdangerous import URLSafeSerializer

    for _ in range(5):
        assert attempt(app.test_client(), address=STRANGER).status_code == 401
    elsewhere = URLSafeSerializer(app.secret_key).dumps([catalog.users["coordinator"], "dev-1"])
    browser = app.test_client()
    browser.set_cookie("orderly_device", elsewhere, path="/sign-in")
    assert attempt(browser, password=PASSWORD, address=STRANGER).status_code == 429
    with app_context(app) as session:
        assert session.scalar(select(func.count(UserSignIn.id))) == 0


def test_a_client_held_back_is_refused_with_a_stable_code_before_its_password_is_checked(
    app, catalog, clock
):
    """The service's refusal, which every door maps: too_many_attempts, with the wait."""
    from app.auth import service as auth_service
    from app.auth import throttle

    origin = throttle.Origin("203.0.113.77")
    with app.app_context():
        for _ in range(5):
            assert auth_service.authenticate(EMAIL, "wrong password", origin) is None
        with pytest.raises(throttle.TooManyAttempts) as refused:
            auth_service.authenticate(EMAIL, PASSWORD, origin)
    assert [p.code for p in refused.value.problems] == ["too_many_attempts"]
    assert refused.value.retry_after == 60
    assert stored(app, SignInAttempt.succeeded.is_(True)) == 0


def test_attempts_are_kept_only_while_a_limit_still_counts_them(app, catalog, clock, monkeypatch):
    """The longest window is an hour: an attempt an hour old is still counted, one a second
    older is deleted with the next attempt."""
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "20/minute")
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ACCOUNT", "10/minute")
    monkeypatch.setitem(app.config, "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT", "100/hour")
    assert attempt(app.test_client()).status_code == 401
    clock.advance(3600)
    assert attempt(app.test_client()).status_code == 401
    assert stored(app) == 2
    clock.advance(1)
    assert attempt(app.test_client()).status_code == 401
    assert stored(app) == 2


def test_a_client_is_forgotten_a_day_after_its_last_attempt(app, catalog, clock):
    """Its failures and its waits in a row start again; a day to the second is not yet."""
    held, almost, quiet = "203.0.113.1", "203.0.113.2", "203.0.113.3"
    for _ in range(5):
        assert attempt(app.test_client(), address=held).status_code == 401
    for address in (almost, quiet):
        for _ in range(4):
            assert attempt(app.test_client(), address=address).status_code == 401
    clock.advance(24 * 3600)
    assert attempt(app.test_client(), address=almost).status_code == 401  # its fifth
    assert attempt(app.test_client(), address=almost).status_code == 429
    clock.advance(1)
    assert attempt(app.test_client(), address=quiet).status_code == 401  # its first again
    assert attempt(app.test_client(), address=quiet).status_code == 401
    for _ in range(5):
        assert attempt(app.test_client(), address=held).status_code == 401
    assert attempt(app.test_client(), address=held).headers["Retry-After"] == "60"


def test_a_wait_lasts_until_the_oldest_counted_attempt_leaves_its_window(
    app, catalog, clock, monkeypatch
):
    """With 2 a minute and 3 an hour, the fourth attempt in the hour waits for the first to
    be an hour old, not for a later one."""
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ACCOUNT", "2/minute;3/hour")
    browser = app.test_client()
    for _ in range(3):
        assert attempt(browser).status_code == 401
        clock.advance(61)
    refused = attempt(browser)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == str(3600 - 3 * 61)


def test_each_browser_that_signed_in_before_is_a_client_of_its_own(app, catalog, clock):
    """The laptop's failures hold back the laptop, not the phone, at the same address."""
    laptop, phone = signed_in_once(app, STRANGER), signed_in_once(app, STRANGER)
    for _ in range(5):
        assert attempt(laptop, address=STRANGER).status_code == 401
    assert attempt(laptop, password=PASSWORD, address=STRANGER).status_code == 429
    assert attempt(phone, password=PASSWORD, address=STRANGER).status_code == 303


def test_a_known_browsers_sign_ins_leave_its_address_all_its_attempts(
    app, catalog, clock, monkeypatch
):
    """Only browsers new to the account are counted per address: a colleague's new browser
    at the same office address is not refused after the known laptop signed in three times."""
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "3/minute")
    laptop = signed_in_once(app, STRANGER)  # counted: the laptop was new then
    for _ in range(3):
        assert attempt(laptop, password=PASSWORD, address=STRANGER).status_code == 303
        laptop.delete_cookie("session")
    colleague = attempt(app.test_client(), "fulfillment@example.org", address=STRANGER)
    assert colleague.status_code == 401


def test_only_failures_from_browsers_new_to_this_account_hold_it_back(
    app, catalog, clock, monkeypatch
):
    """Three failures an hour from new browsers hold back the account's new browsers; the
    failures of a known browser, or for another account, do not count."""
    monkeypatch.setitem(app.config, "SIGN_IN_UNTRUSTED_FAILURES_PER_ACCOUNT", "3/hour")
    laptop = signed_in_once(app, "192.0.2.1")
    for _ in range(3):
        assert attempt(laptop, address="192.0.2.1").status_code == 401
    for n in range(3):
        stranger = app.test_client()
        assert (
            attempt(stranger, "fulfillment@example.org", address=f"203.0.113.{n}").status_code
            == 401
        )
    assert attempt(app.test_client(), password=PASSWORD, address="198.51.100.7").status_code == 303


def test_a_success_for_one_account_leaves_the_clients_failures_for_another(app, catalog, clock):
    """The same address fails four times for one account, then signs in to another: the
    fifth failure for the first still makes it wait."""
    other = "fulfillment@example.org"
    for _ in range(4):
        assert attempt(app.test_client(), other, address=STRANGER).status_code == 401
    assert attempt(app.test_client(), password=PASSWORD, address=STRANGER).status_code == 303
    assert attempt(app.test_client(), other, address=STRANGER).status_code == 401
    assert attempt(app.test_client(), other, PASSWORD, address=STRANGER).status_code == 429

"""Throttling: sign-in attempts per account and client and per address, counted in the
database (one count for every worker: checked through gunicorn's two workers); API calls per
key, refused keys per address; 429 with Retry-After (JSON on the API). The API's counts are in
memory in each worker, or in Redis when the instances share them (served by gunicorn, as
dev.py serves). The wait after failed sign-ins: tests/test_sign_in_lockout.py."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import pytest
from sqlalchemy import func, select

from app.api.throttle import InProcessStorage, throttle_of
from app.auth.models import SignInAttempt, UserSignIn
from tests.conftest import PASSWORD, app_context
from tests.helpers.dev import ROOT, dev_py
from tests.helpers.web import csrf_token


def attempt(client, email="coordinator@example.org", password="wrong password", **environ):
    token = csrf_token(client.get("/sign-in").text)
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": "127.0.0.1", **environ},
    )


def test_sign_ins_are_throttled_per_address(app, client, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "3/minute")
    for n in range(3):
        assert attempt(client, email=f"nobody{n}@example.org").status_code == 401
    refused = attempt(client, email="nobody9@example.org")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) > 0
    assert "Too many sign-in attempts. Try again in" in refused.text
    other_address = attempt(client, email="nobody9@example.org", REMOTE_ADDR="10.0.0.2")
    assert other_address.status_code == 401


def test_a_browser_that_signed_in_before_is_not_held_by_its_address(
    app, client, catalog, monkeypatch
):
    assert attempt(client, password=PASSWORD).status_code == 303  # the device cookie
    client.delete_cookie("session")
    # That first sign-in counts (the browser had no device cookie yet), and two more.
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "3/minute")
    stranger = app.test_client()
    for n in range(2):
        assert attempt(stranger, email=f"nobody{n}@example.org").status_code == 401
    assert attempt(stranger, password=PASSWORD).status_code == 429
    assert attempt(client, password=PASSWORD).status_code == 303


def test_sign_ins_are_throttled_per_account_and_client(app, client, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ACCOUNT", "2/minute")
    for _ in range(2):
        assert attempt(client, REMOTE_ADDR="10.0.1.1").status_code == 401
    assert attempt(client, REMOTE_ADDR="10.0.1.1").status_code == 429
    # The same account from another client, and another account from the same client, are
    # not held up.
    assert attempt(client, REMOTE_ADDR="10.0.1.2", password=PASSWORD).status_code == 303
    other = app.test_client()
    assert (
        attempt(other, email="fulfillment@example.org", REMOTE_ADDR="10.0.1.1").status_code == 401
    )


def test_api_calls_are_throttled_per_key(app, api, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "API_LIMIT_PER_KEY", "2/minute")
    assert api.get("/api/v3/site").status_code == 200
    assert api.get("/api/v3/site").status_code == 200
    refused = api.get("/api/v3/site")
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "too_many_requests"
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    # Each route is counted apart.
    assert api.get("/api/v3/inventory").status_code == 200


def test_refused_api_keys_are_throttled_per_address(app, client, api, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "API_FAILED_KEYS_PER_ADDRESS", "3/minute")
    for n in range(3):
        wrong = client.get("/api/v3/site", headers={"Impilo-API-Key": f"ok_guess{n}"})
        assert wrong.status_code == 401
    refused = client.get("/api/v3/site", headers={"Impilo-API-Key": "ok_guess9"})
    assert refused.status_code == 429 and refused.json["error"]["code"] == "too_many_requests"
    assert refused.headers["Retry-After"]
    # The same address with a good key is refused too: guessing there has stopped all keys.
    assert api.get("/api/v3/site").status_code == 429
    # Another address is not.
    assert api.get("/api/v3/site", environ_base={"REMOTE_ADDR": "10.0.2.1"}).status_code == 200


# --- Redis: two instances share one count ----------------------------------------------------


def _redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("Redis does not answer on 127.0.0.1:6379")
    return client


def _serve(app, home, env_extra, workers: int = 1):
    command = dev_py().gunicorn_command("127.0.0.1", "0")
    command[command.index("--workers") + 1] = str(workers)
    command[1:1] = ["--graceful-timeout", "2"]
    # The access log names the worker that answered (a later flag wins over dev.py's).
    command[-1:-1] = ["--access-logformat", '%(p)s "%(m)s %(U)s" %(s)s']
    env = {
        **os.environ,
        "HOME": str(home),
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "SECRET_KEY": "tests-only-secret",
        **env_extra,
    }
    log = home / f"gunicorn-{uuid.uuid4().hex}.log"
    out = log.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)
    for _ in range(1200):  # up to a minute: the machine may be busy
        text = log.read_text()
        match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        if match and text.count("Booting worker") >= workers:
            return process, int(match.group(1))
        time.sleep(0.05)
    process.terminate()
    raise AssertionError(log.read_text())


def _get(port, path, key):
    try:
        with urlopen(
            Request(f"http://127.0.0.1:{port}{path}", headers={"Impilo-API-Key": key})
        ) as r:
            return r.status, dict(r.headers)
    except HTTPError as error:
        return error.code, dict(error.headers)


def test_instances_share_their_counts_through_redis(app, api_key, catalog, tmp_path):
    redis = _redis()
    prefix = f"orderly-test-h10-{uuid.uuid4().hex[:8]}"
    env = {
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0",
        "RATELIMIT_KEY_PREFIX": prefix,
        "API_LIMIT_PER_KEY": "3/minute",
    }
    first, first_port = _serve(app, tmp_path, env)
    second, second_port = _serve(app, tmp_path, env)
    try:
        assert _get(first_port, "/api/v3/site", api_key)[0] == 200
        assert _get(second_port, "/api/v3/site", api_key)[0] == 200
        assert _get(first_port, "/api/v3/site", api_key)[0] == 200
        status, headers = _get(second_port, "/api/v3/site", api_key)
        assert status == 429 and int(headers["Retry-After"]) > 0
        keys = list(redis.scan_iter(f"*{prefix}*"))
        assert keys, "the counts are kept in Redis"
        assert not any(api_key.encode() in key for key in keys)  # keys are stored hashed
    finally:
        for process in (first, second):
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for key in redis.scan_iter(f"*{prefix}*"):
            redis.delete(key)


def test_a_sign_in_form_post_is_throttled_with_a_page(app, client, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_LIMIT_PER_ADDRESS", "1/minute")
    attempt(client)
    refused = attempt(client)
    assert refused.status_code == 429
    assert "<html" in refused.text and refused.headers["Content-Type"].startswith("text/html")


def test_api_answers_carry_the_keys_figures(app, api, catalog, monkeypatch):
    monkeypatch.setitem(app.config, "API_LIMIT_PER_KEY", "5/minute")
    first, second = api.get("/api/v3/site"), api.get("/api/v3/site")
    assert first.headers["X-RateLimit-Limit"] == "5"
    assert (first.headers["X-RateLimit-Remaining"], second.headers["X-RateLimit-Remaining"]) == (
        "4",
        "3",
    )
    assert int(second.headers["X-RateLimit-Reset"]) > time.time()


def test_the_keys_figures_are_on_answers_of_api_routes_only(api, catalog):
    """As the README says: any answer of an API route carries them, an error too; a path or
    a method no API route has (404, 405) is not counted and carries none."""
    assert api.get("/api/v3/order/999999").status_code == 404  # a route: no such order
    assert "X-RateLimit-Remaining" in api.get("/api/v3/order/999999").headers
    unknown, wrong_method = api.get("/api/v3/no-such-thing"), api.delete("/api/v3/order")
    assert (unknown.status_code, wrong_method.status_code) == (404, 405)
    assert "X-RateLimit-Limit" not in unknown.headers
    assert "X-RateLimit-Limit" not in wrong_method.headers


def test_api_calls_are_counted_in_the_process_while_the_storage_does_not_answer(
    app, api_key, catalog, tmp_path
):
    """Redis down (nothing listens on port 1): API calls are still answered, and still
    counted, in the process, rather than failing or going uncounted."""
    env = {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0", "API_LIMIT_PER_KEY": "2/minute"}
    server, port = _serve(app, tmp_path, env)
    try:
        assert _get(port, "/api/v3/site", api_key)[0] == 200
        assert _get(port, "/api/v3/site", api_key)[0] == 200
        status, headers = _get(port, "/api/v3/site", api_key)
        assert status == 429 and int(headers["Retry-After"]) > 0
    finally:
        server.terminate()
        server.wait(timeout=15)
    logged = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    assert "Throttling storage unreachable" in logged


def test_a_look_at_the_figures_of_a_key_never_called_keeps_nothing():
    """The figures of a key (a refused key's address, before its first refusal) are read on
    every API call: reading them must not leave an empty count behind."""
    storage = InProcessStorage()
    assert storage.get_moving_window("never called", 5, 60)[1] == 0
    assert storage.calls == {}
    assert storage.acquire_entry("called", 5, 60)
    assert storage.get_moving_window("called", 5, 60)[1] == 1
    assert list(storage.calls) == ["called"]


def test_the_api_throttle_counts_api_calls_and_nothing_else(app, client, api, catalog):
    """The API counts its calls in its own storage (app/api/throttle.py, on the ``limits``
    library); the web's pages and sign-ins are counted in the database and put nothing
    there."""
    counts = throttle_of(app).shared.storage.calls
    assert client.get("/sign-in").status_code == 200
    assert attempt(client).status_code == 401
    assert counts == {}
    assert api.get("/api/v3/site").status_code == 200
    [counted] = counts
    assert "/api-key/api.list_sites/" in counted


# --- One count for the whole server: gunicorn's two workers --------------------------------


def _sign_ins(port: int, address: str, credentials: list[tuple[str, str]]) -> list[int]:
    """Sign-in attempts sent all at once from ``address`` (a loopback address of its own),
    each on a connection of its own; one browser session and CSRF token, and no device
    cookie kept: every attempt comes from the same new browser."""

    def connection():
        return http.client.HTTPConnection(
            "127.0.0.1", port, timeout=60, source_address=(address, 0)
        )

    first = connection()
    first.request("GET", "/sign-in")
    page = first.getresponse()
    cookie = page.getheader("Set-Cookie").split(";")[0]
    token = csrf_token(page.read().decode())
    first.close()
    barrier = threading.Barrier(len(credentials))

    def post(email_and_password):
        email, password = email_and_password
        body = urlencode({"email": email, "password": password, "csrf_token": token})
        conn = connection()
        barrier.wait()
        conn.request(
            "POST",
            "/sign-in",
            body=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
        )
        status = conn.getresponse().status
        conn.close()
        return status

    with ThreadPoolExecutor(max_workers=len(credentials)) as pool:
        return sorted(pool.map(post, credentials))


def test_sign_in_limits_hold_for_the_whole_server_of_two_workers(app, catalog, tmp_path):
    """dev.py's default: two gunicorn workers, memory storage, no Redis. The sign-in limits
    (10 a minute per account and client, 20 per address, a wait after 5 failures) are kept
    for the server as a whole, whichever worker answers."""
    server, port = _serve(app, tmp_path, {}, workers=2)
    try:
        right = _sign_ins(port, "127.0.0.2", [("coordinator@example.org", PASSWORD)] * 30)
        spread = _sign_ins(
            port, "127.0.0.3", [(f"nobody{n}@example.org", "wrong password") for n in range(40)]
        )
        wrong = _sign_ins(port, "127.0.0.4", [("fulfillment@example.org", "wrong password")] * 20)
    finally:
        server.terminate()
        server.wait(timeout=15)
    log = "".join(p.read_text() for p in tmp_path.glob("gunicorn-*.log"))
    answered_by = set(re.findall(r'^<(\d+)> "POST /sign-in"', log, re.MULTILINE))
    assert len(answered_by) == 2, "both workers answered sign-ins"
    assert right == [303] * 10 + [429] * 20
    assert spread == [401] * 20 + [429] * 20
    assert wrong == [401] * 5 + [429] * 15
    with app_context(app) as session:
        counted = dict(
            session.execute(
                select(SignInAttempt.succeeded, func.count()).group_by(SignInAttempt.succeeded)
            ).all()
        )
        sign_ins = session.scalar(select(func.count(UserSignIn.id)))
    assert counted == {True: 10, False: 25} and sign_ins == 10
    # And the start says what the API's limit really is: counted in each worker apart.
    assert "API calls: 600/minute per key and route" in log
    assert "counted in each of 2 workers apart" in log

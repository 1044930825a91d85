"""Items, kits, users and API keys in the browser's pages, and who may change them."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth import service
from app.auth.actor import Actor
from app.auth.models import ApiKey, User, UserSignIn
from app.catalog.models import Item, Kit
from app.extensions import db
from app.history.models import RecordChange
from app.validation import Problem, Rejected
from tests.conftest import app_context
from tests.helpers.orders import place
from tests.helpers.web import Browserless


@pytest.fixture
def admin(client, catalog):
    person = Browserless(client)
    assert person.sign_in("admin").status_code == 303
    return person


def item_data(**overrides):
    data = {
        "name": "Pulse oximeter",
        "sku": "pox-1",
        "model": "3230",
        "manufacturer": "Nonin",
        "device_identifier_type": "macAddress",
        "size": "",
        "orderable": "y",
    }
    data.update(overrides)
    return data


def test_admin_adds_and_edits_an_item(app, admin):
    response = admin.post("/items/new", item_data())
    assert response.status_code == 303
    item_url = response.headers["Location"]
    page = admin.get(item_url).text
    assert "POX-1" in page and "Nonin" in page and "MAC address" in page
    item_id = int(item_url.rsplit("/", 1)[1])
    admin.post(f"/items/{item_id}/edit", item_data(orderable=""))
    with app_context(app) as session:
        item = session.get(Item, item_id)
        assert item.orderable is False and item.sku == "POX-1"
        change = session.scalars(
            select(RecordChange).where(RecordChange.record_type == "item").order_by(RecordChange.id)
        ).all()[-1]
        assert change.changes == {"orderable": [True, False]}


def test_item_rules_show_next_to_fields(admin, catalog):
    response = admin.post("/items/new", item_data(sku="bpm", name="", size="huge"))
    assert response.status_code == 422
    assert re.search(r'id="sku-error">BPM is already the SKU of BP monitor', response.text)
    assert re.search(r'id="name-error">Name is required', response.text)


def test_identifier_type_is_fixed_once_devices_exist(app, admin, catalog):
    from tests.helpers.orders import move, pack_everything

    order_id = place(app, catalog, items={"monitor": 1})
    move(app, order_id, "processing")
    pack_everything(app, order_id)
    response = admin.post(
        f"/items/{catalog.items['monitor']}/edit",
        item_data(name="BP monitor", sku="BPM", device_identifier_type="imei"),
    )
    assert response.status_code == 422
    assert "identifier type cannot change" in response.text


def kit_post(person, url, name, rows, action="save", htmx=False):
    data = {"name": name, "action": action}
    for n, (item_id, count) in enumerate(rows):
        data[f"lines-{n}-item_id"] = str(item_id)
        data[f"lines-{n}-count"] = str(count)
    return person.post(url, data, htmx=htmx)


def test_kit_editor_adds_and_removes_rows_on_the_server(admin, catalog):
    rows = [
        (catalog.items["monitor"], 1),
        (catalog.items["cuff"], 2),
        (catalog.items["gateway"], 1),
    ]
    added = kit_post(admin, "/kits/new", "New kit", rows, action="add-row", htmx=True)
    assert added.status_code == 200
    assert added.text.lstrip().startswith('<fieldset id="kit-rows"')
    assert 'id="lines-3-item_id"' in added.text
    removed = kit_post(admin, "/kits/new", "New kit", rows, action="remove-row:1", htmx=True)
    ids = re.findall(r'id="lines-(\d)-item_id"', removed.text)
    assert ids == ["0", "1"]
    # what was row 3 (the gateway) is now row 2, selected
    gateway = catalog.items["gateway"]
    assert re.search(
        rf'id="lines-1-item_id"[^>]*>.*?<option selected value="{gateway}"', removed.text, re.S
    )


def test_kit_is_saved_with_its_contents_and_history(app, admin, catalog):
    response = kit_post(
        admin,
        "/kits/new",
        "COPD kit",
        [(catalog.items["monitor"], 1), (catalog.items["strips"], 3)],
    )
    assert response.status_code == 303
    page = re.sub(r"<[^>]+>", "", admin.get(response.headers["Location"]).text)
    assert "3 × Test strips" in page and "Created" in page


def test_kit_rules_go_next_to_their_rows(admin, catalog):
    rows = [(catalog.items["monitor"], 0), (catalog.items["monitor"], 1)]
    response = kit_post(admin, "/kits/new", "Hypertension kit", rows)
    assert response.status_code == 422
    assert re.search(
        r'id="lines-0-count-error">Count must be a whole number from 1 to 99', response.text
    )
    assert re.search(r'id="lines-1-item_id-error">BP monitor is in the kit twice', response.text)
    assert re.search(
        r'id="name-error">There is already a kit called Hypertension kit', response.text
    )


@pytest.mark.parametrize("sent", ["٢", "2147483648", "abc"])
def test_a_kit_item_that_is_not_valid_is_refused_at_its_row_and_shown_as_sent(admin, catalog, sent):
    response = kit_post(admin, "/kits/new", "COPD kit", [(sent, 1)])
    assert response.status_code == 422
    assert re.search(r'id="lines-0-item_id-error">', response.text)
    assert re.search(
        rf'id="lines-0-item_id"[^>]*>.*?<option selected value="{re.escape(sent)}"',
        response.text,
        re.S,
    )


def test_the_catalog_never_guesses_that_nothing_is_on_orders(app, catalog, monkeypatch):
    """Orders answer the catalog's "on any order?"; without their answer the catalog fails
    loudly instead of answering "no" and letting an ordered kit's contents change."""
    from app.catalog import on_orders
    from app.catalog.service import item_is_ordered

    place(app, catalog, kits={"diabetes": 1})
    with app_context(app):
        assert on_orders.kit_on_orders(catalog.kits["diabetes"])
        monkeypatch.setattr(on_orders, "_answers", {})
        with pytest.raises(on_orders.OrdersNotRegistered, match="import app.orders"):
            on_orders.kit_on_orders(catalog.kits["diabetes"])
        with pytest.raises(on_orders.OrdersNotRegistered):
            item_is_ordered(catalog.items["strips"])


def test_a_kit_on_orders_keeps_its_contents_but_can_be_renamed_and_archived(app, admin, catalog):
    place(app, catalog, kits={"diabetes": 1})
    kit_id = catalog.kits["diabetes"]
    changed = kit_post(
        admin, f"/kits/{kit_id}/edit", "Diabetes kit", [(catalog.items["strips"], 5)]
    )
    assert changed.status_code == 422
    assert "archive it and make a new kit" in changed.text
    renamed = kit_post(
        admin,
        f"/kits/{kit_id}/edit",
        "Diabetes kit (2026)",
        [(catalog.items["glucometer"], 1), (catalog.items["strips"], 2)],
    )
    assert renamed.status_code == 303
    assert admin.post(f"/kits/{kit_id}/archive").status_code == 303
    with app_context(app) as session:
        kit = session.get(Kit, kit_id)
        assert (kit.name, kit.archived) == ("Diabetes kit (2026)", True)


def test_coordinators_and_fulfillment_see_the_catalog_but_do_not_change_it(client, catalog):
    for role in ("coordinator", "fulfillment"):
        person = Browserless(client)
        person.sign_in(role)
        assert person.get("/items/").status_code == 200
        assert person.get("/kits/").status_code == 200
        assert person.get("/items/new").status_code == 403
        assert person.post("/kits/new", {"name": "x"}).status_code == 403
        person.post("/sign-out")


# --- Users and API keys --------------------------------------------------------------------


def user_data(**overrides):
    data = {
        "email": "Nurse@Clinic.example",
        "first_name": "Florence",
        "last_name": "Nightingale",
        "role": "coordinator",
        "password": "lamp in the night ward",
    }
    data.update(overrides)
    return data


def test_admin_creates_a_user_who_can_sign_in(app, client, admin):
    response = admin.post("/admin/users/new", user_data())
    assert response.status_code == 303
    admin.post("/sign-out")
    page = client.get("/sign-in")
    from tests.helpers.web import csrf_token

    signed = client.post(
        "/sign-in",
        data={
            "email": "nurse@clinic.example",
            "password": "lamp in the night ward",
            "csrf_token": csrf_token(page.text),
        },
    )
    assert signed.status_code == 303


def test_user_rules(admin, catalog):
    response = admin.post(
        "/admin/users/new", user_data(password="short", email="coordinator@example.org", role="")
    )
    assert response.status_code == 422
    assert re.search(r'id="password-error">A password is at least 12 characters', response.text)
    assert re.search(r'id="email-error">Another user signs in with this email', response.text)
    assert re.search(r'id="role-error">Choose a role', response.text)
    assert "short" not in response.text  # the password is not sent back


def test_password_reset_signs_the_user_out_everywhere(app, client, admin, catalog):
    other = Browserless(app.test_client())
    other.sign_in("coordinator")
    assert other.get("/orders/new").status_code == 200
    response = admin.post(
        f"/admin/users/{catalog.users['coordinator']}/password",
        {"password": "a brand new passphrase"},
    )
    assert response.status_code == 303
    assert other.get("/orders/new").status_code == 302
    with app_context(app) as session:
        action = session.scalars(
            select(RecordChange.action).where(RecordChange.record_type == "user")
        ).all()
        assert action == ["passwordReset"]
        assert "a brand new passphrase" not in str(
            session.scalars(select(RecordChange.changes)).all()
        )


def test_deactivated_user_is_signed_out_and_cannot_sign_in(app, admin, catalog):
    other = Browserless(app.test_client())
    other.sign_in("fulfillment")
    admin.post(f"/admin/users/{catalog.users['fulfillment']}/deactivate")
    assert other.get("/orders/").status_code == 302
    assert Browserless(app.test_client()).sign_in("fulfillment").status_code == 401


def test_admin_cannot_lock_themselves_out(app, admin, catalog):
    admin.post(f"/admin/users/{catalog.users['admin']}/deactivate")
    response = admin.post(
        f"/admin/users/{catalog.users['admin']}/edit",
        {"email": "admin@example.org", "first_name": "A", "last_name": "B", "role": "coordinator"},
    )
    assert response.status_code == 422
    with app_context(app) as session:
        me = session.get(User, catalog.users["admin"])
        assert (me.active, me.role) == (True, "admin")


def test_api_key_is_shown_once_stored_hashed_and_revocable(app, client, admin):
    response = admin.post(
        "/admin/api-keys/", {"name": "EHR integration", "scopes": ["orders:read", "orders:write"]}
    )
    assert response.status_code == 200
    key = re.search(r'id="new-key" value="(ok_[^"]+)"', response.text).group(1)
    assert response.headers["Cache-Control"] == "no-store"
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": key}).status_code == 200
    listing = admin.get("/admin/api-keys/").text
    assert key not in listing and key[:10] in listing
    with app_context(app) as session:
        stored = session.scalar(select(ApiKey).where(ApiKey.name == "EHR integration"))
        assert key not in (stored.key_hash, stored.prefix)
        key_id = stored.id
    # The button asks first, naming the key; only the answer revokes it.
    asked = admin.post(f"/admin/api-keys/{key_id}/revoke")
    assert asked.status_code == 200
    assert "Revoke the API key “EHR integration”?" in asked.text
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": key}).status_code == 200
    done = admin.post(f"/admin/api-keys/{key_id}/revoke", {"confirm": "yes"})
    assert done.status_code == 303
    assert "API key “EHR integration” revoked" in admin.get("/admin/api-keys/").text
    assert client.get("/api/v3/order", headers={"Impilo-API-Key": key}).status_code == 401


@pytest.mark.parametrize("role", ["coordinator", "fulfillment"])
@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/admin/users/"),
        ("get", "/admin/users/new"),
        ("get", "/admin/api-keys/"),
        ("post", "/admin/api-keys/"),
    ],
)
def test_admin_pages_are_for_admins_only(client, catalog, role, method, url):
    person = Browserless(client)
    person.sign_in(role)
    response = person.get(url) if method == "get" else person.post(url, {"name": "x"})
    assert response.status_code == 403
    with app_context(client.application) as session:
        assert session.scalar(select(func.count(ApiKey.id))) == 0


def test_identifier_type_is_fixed_once_the_item_is_in_an_ordered_kit(app, admin, catalog):
    place(app, catalog, kits={"hypertension": 1})
    response = admin.post(
        f"/items/{catalog.items['cuff']}/edit",
        item_data(name="BP cuff, large", sku="CUF-L", device_identifier_type="serial"),
    )
    assert response.status_code == 422
    assert "Make a new item instead" in response.text


def test_api_keys_page_shows_who_made_and_revoked_keys(app, admin):
    admin.post("/admin/api-keys/", {"name": "Lab feed", "scopes": ["orders:read"]})
    page = admin.get("/admin/api-keys/").text
    assert "<title>API keys · Orderly</title>" in page
    assert page.count('id="key-history-heading"') == 1
    assert re.search(r"Lab feed: <strong>Created</strong> by Admin Tester", page)


def test_api_key_last_use_is_recorded_once_a_minute(app, api, admin):
    def last_used():
        with app_context(app) as session:
            return session.scalar(select(ApiKey.last_used_at))

    assert last_used() is None
    api.get("/api/v3/site")
    first = last_used()
    assert first is not None
    api.get("/api/v3/site")
    assert last_used() == first  # within the minute: not written again
    with app_context(app) as session:
        session.execute(update(ApiKey).values(last_used_at=first - timedelta(minutes=2)))
        session.commit()
    api.get("/api/v3/site")
    assert last_used() > first
    assert "Last used" in admin.get("/admin/api-keys/").text


def refusal_of(app, change, *args) -> list[Problem]:
    """The problems a service call is refused with (it must be refused)."""
    with app.app_context(), pytest.raises(Rejected) as refused:
        change(*args)
    return refused.value.problems


def admin_actor(app, catalog) -> Actor:
    with app.app_context():
        return Actor(user=db.session.get(User, catalog.users["admin"]))


def api_key_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(ApiKey.id)))


def test_an_api_key_needs_a_name_of_at_most_100_characters(app, catalog):
    actor = admin_actor(app, catalog)
    scopes = ["orders:read"]
    for name, problem in [
        (None, Problem("required", "Name is required.", "name")),
        ("  ", Problem("required", "Name is required.", "name")),
        ("x" * 101, Problem("too_long", "Name is at most 100 characters.", "name")),
    ]:
        assert refusal_of(app, service.create_api_key, name, scopes, actor) == [problem]
    assert api_key_count(app) == 0
    with app.app_context():
        service.create_api_key(" " + "x" * 100 + " ", scopes, actor)
    with app_context(app) as session:
        assert session.scalars(select(ApiKey.name)).all() == ["x" * 100]


def test_an_api_key_is_refused_an_unknown_scope_by_name_or_no_scope_at_all(app, catalog):
    actor = admin_actor(app, catalog)
    assert refusal_of(
        app, service.create_api_key, "Feed", ["orders:read", "orders:everything", 7], actor
    ) == [Problem("invalid_scope", "Unknown scope: orders:everything, 7.", "scopes")]
    for scopes in (None, []):
        assert refusal_of(app, service.create_api_key, "Feed", scopes, actor) == [
            Problem("required", "Choose at least one thing the key may do.", "scopes")
        ]
    assert api_key_count(app) == 0


def test_revoking_a_key_is_on_its_history_once_with_who_revoked_it(app, catalog):
    actor = admin_actor(app, catalog)
    with app.app_context():
        key, _ = service.create_api_key("Feed", ["orders:read"], actor)
        key_id = key.id
    with app.app_context():
        service.revoke_api_key(key_id, actor)
        service.revoke_api_key(key_id, actor)
    with app_context(app) as session:
        stored = session.get(ApiKey, key_id)
        assert stored.revoked_at is not None
        assert stored.created_by_id == catalog.users["admin"]
        assert session.scalar(select(RecordChange.changes).order_by(RecordChange.id)) == {
            "name": [None, "Feed"],
            "prefix": [None, stored.prefix],
            "scopes": [None, "orders:read"],
        }
        history = session.execute(
            select(
                RecordChange.record_type,
                RecordChange.record_id,
                RecordChange.action,
                RecordChange.actor_user_id,
            ).order_by(RecordChange.id)
        ).all()
    assert [tuple(row) for row in history] == [
        ("apiKey", key_id, "created", catalog.users["admin"]),
        ("apiKey", key_id, "revoked", catalog.users["admin"]),
    ]


def test_a_user_or_key_there_is_not_is_refused_by_name(app, catalog):
    actor = admin_actor(app, catalog)
    missing_user = [Problem("user_not_found", "There is no user with id 999999.")]
    assert refusal_of(app, service.sign_out_everywhere, 999999, actor) == missing_user
    assert refusal_of(app, service.set_user_active, 999999, False, actor) == missing_user
    assert (
        refusal_of(app, service.reset_password, 999999, "a long enough passphrase", actor)
        == missing_user
    )
    draft = service.UserDraft("someone@example.org", "Some", "One", "coordinator")
    assert refusal_of(app, service.update_user, 999999, draft, actor) == missing_user
    assert refusal_of(app, service.revoke_api_key, 999999, actor) == [
        Problem("API_key_not_found", "There is no API key with id 999999.")
    ]


def user_count(app) -> int:
    with app_context(app) as session:
        return session.scalar(select(func.count(User.id)))


def test_each_user_rule_is_refused_at_its_field_and_nothing_is_stored(app, catalog):
    actor = admin_actor(app, catalog)
    draft = service.UserDraft
    password = "a long enough pass"
    before = user_count(app)
    cases = [
        (draft(None, "A", "B", "coordinator"), [("required", "Email is required.", "email")]),
        (
            draft("not an email", "A", "B", "coordinator"),
            [("invalid_email", "Enter an email address like name@example.com.", "email")],
        ),
        (
            draft("a@example.org", None, None, None),
            [
                ("required", "First name is required.", "firstName"),
                ("required", "Last name is required.", "lastName"),
                ("required", "Choose a role.", "role"),
            ],
        ),
        (
            draft("a@example.org", "x" * 101, "y" * 101, "boss"),
            [
                ("too_long", "First name is at most 100 characters.", "firstName"),
                ("too_long", "Last name is at most 100 characters.", "lastName"),
                (
                    "invalid_choice",
                    "Role must be one of: coordinator, fulfillment, admin.",
                    "role",
                ),
            ],
        ),
        (
            draft("Coordinator@Example.ORG", "A", "B", "admin"),
            [("duplicate_email", "Another user signs in with this email.", "email")],
        ),
    ]
    for user, problems in cases:
        refused = refusal_of(app, service.create_user, user, password, actor)
        assert refused == [Problem(*problem) for problem in problems]
    assert user_count(app) == before


def test_a_password_is_12_to_200_characters(app, catalog):
    actor = admin_actor(app, catalog)
    weak = Problem(
        "weak_password",
        "A password is at least 12 characters; a few words make a good one.",
        "password",
    )
    too_long = Problem("too_long", "A password is at most 200 characters.", "password")
    user_id = catalog.users["coordinator"]
    for password, problem in [(None, weak), (5, weak), ("x" * 11, weak), ("x" * 201, too_long)]:
        assert refusal_of(app, service.reset_password, user_id, password, actor) == [problem]
    for password in ("x" * 12, "y" * 200):
        with app.app_context():
            service.reset_password(user_id, password, actor)
        with app_context(app) as session:
            assert session.get(User, user_id).check_password(password)
    draft = service.UserDraft("New@Example.org", "  New ", "Person", "fulfillment")
    with app.app_context():
        service.create_user(draft, "z" * 12, actor)
    with app_context(app) as session:
        made = session.scalar(select(User).where(User.email == "new@example.org"))
        assert (made.first_name, made.last_name, made.role) == ("New", "Person", "fulfillment")
        assert made.check_password("z" * 12)


def sign_ins_of(app, user_id: int) -> list[str | None]:
    """Each sign-in of the user, oldest first: the reason it ended, or None while open."""
    with app_context(app) as session:
        return list(
            session.scalars(
                select(UserSignIn.end_reason)
                .where(UserSignIn.user_id == user_id)
                .order_by(UserSignIn.id)
            )
        )


def user_history(app, user_id: int) -> list[tuple]:
    with app_context(app) as session:
        return [
            tuple(row)
            for row in session.execute(
                select(RecordChange.action, RecordChange.actor_user_id)
                .where(RecordChange.record_type == "user", RecordChange.record_id == user_id)
                .order_by(RecordChange.id)
            )
        ]


def test_deactivating_a_user_ends_their_sign_ins_only_and_is_recorded_once(app, catalog):
    admin_id, user_id = catalog.users["admin"], catalog.users["fulfillment"]
    for role in ("fulfillment", "coordinator"):
        assert Browserless(app.test_client()).sign_in(role).status_code == 303
    for active in (False, False):
        with app.app_context():
            service.set_user_active(user_id, active, admin_actor(app, catalog))
    with app_context(app) as session:
        assert session.get(User, user_id).active is False
    assert sign_ins_of(app, user_id) == ["deactivated"]
    assert sign_ins_of(app, catalog.users["coordinator"]) == [None]
    assert user_history(app, user_id) == [("deactivated", admin_id)]
    with app.app_context():
        service.set_user_active(user_id, True, admin_actor(app, catalog))
    with app_context(app) as session:
        assert session.get(User, user_id).active is True
    assert sign_ins_of(app, user_id) == ["deactivated"]
    assert user_history(app, user_id) == [("deactivated", admin_id), ("activated", admin_id)]


def test_an_admin_cannot_deactivate_their_own_account_but_may_keep_it_active(app, catalog):
    actor = admin_actor(app, catalog)
    admin_id = catalog.users["admin"]
    assert refusal_of(app, service.set_user_active, admin_id, False, actor) == [
        Problem("own_account", "You cannot deactivate your own account.")
    ]
    with app.app_context():
        service.set_user_active(admin_id, True, admin_actor(app, catalog))
    with app_context(app) as session:
        assert session.get(User, admin_id).active is True
    assert user_history(app, admin_id) == []


def test_resetting_a_password_ends_that_users_sign_ins_only_and_is_recorded(app, catalog):
    actor = admin_actor(app, catalog)
    user_id = catalog.users["fulfillment"]
    for role in ("fulfillment", "coordinator"):
        assert Browserless(app.test_client()).sign_in(role).status_code == 303
    with app.app_context():
        service.reset_password(user_id, "a brand new passphrase", actor)
    assert sign_ins_of(app, user_id) == ["passwordReset"]
    assert sign_ins_of(app, catalog.users["coordinator"]) == [None]
    assert user_history(app, user_id) == [("passwordReset", catalog.users["admin"])]
    with app_context(app) as session:
        assert session.get(User, user_id).check_password("a brand new passphrase")


def test_an_admin_changes_a_users_names_and_role_and_the_history_keeps_what_changed(app, catalog):
    user_id, admin_id = catalog.users["fulfillment"], catalog.users["admin"]
    with app_context(app) as session:
        user = session.get(User, user_id)
        before = (user.email, user.first_name, user.last_name, user.role)
    draft = service.UserDraft(before[0].upper(), "Ada", "Lovelace", "coordinator")
    for _ in range(2):  # saved again as it is then: nothing changed, nothing recorded
        with app.app_context():
            service.update_user(user_id, draft, admin_actor(app, catalog))
    with app_context(app) as session:
        user = session.get(User, user_id)
        assert (user.email, user.first_name, user.last_name, user.role) == (
            before[0],
            "Ada",
            "Lovelace",
            "coordinator",
        )
        [entry] = session.scalars(
            select(RecordChange).where(
                RecordChange.record_type == "user", RecordChange.record_id == user_id
            )
        ).all()
        assert (entry.action, entry.actor_user_id) == ("updated", admin_id)
        assert entry.changes == {
            "first_name": [before[1], "Ada"],
            "last_name": [before[2], "Lovelace"],
            "role": [before[3], "coordinator"],
        }


def test_an_admin_keeps_their_own_admin_role_and_is_told_so_in_full(app, catalog):
    admin_id = catalog.users["admin"]
    with app_context(app) as session:
        admin = session.get(User, admin_id)
        email, first, last = admin.email, admin.first_name, admin.last_name
    actor = admin_actor(app, catalog)
    demoted = service.UserDraft(email, first, last, "coordinator")
    assert refusal_of(app, service.update_user, admin_id, demoted, actor) == [
        Problem("own_role", "You cannot take away your own admin role.", "role")
    ]
    with app.app_context():
        me = Actor(user=db.session.get(User, admin_id))
        service.update_user(admin_id, service.UserDraft(email, "Grace", last, "admin"), me)
    with app_context(app) as session:
        admin = session.get(User, admin_id)
        assert (admin.first_name, admin.role) == ("Grace", "admin")
    assert user_history(app, admin_id) == [("updated", admin_id)]


def test_a_new_user_is_recorded_in_the_history_with_what_they_were_given(app, catalog):
    draft = service.UserDraft("New.Packer@Example.org", "Ned", "Packer", "fulfillment")
    with app.app_context():
        user_id = service.create_user(draft, "a long enough password", admin_actor(app, catalog)).id
    with app_context(app) as session:
        [entry] = session.scalars(
            select(RecordChange).where(
                RecordChange.record_type == "user", RecordChange.record_id == user_id
            )
        ).all()
        assert (entry.action, entry.actor_user_id) == ("created", catalog.users["admin"])
        assert entry.changes == {
            "email": "new.packer@example.org",
            "first_name": "Ned",
            "last_name": "Packer",
            "role": "fulfillment",
        }

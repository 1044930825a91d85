"""Every page and action, for every role: the server lets in exactly the roles it should.

The table below is the policy. A route missing from it fails the suite, so that no new
page can be added without saying who may use it.
"""

from __future__ import annotations

import pytest

from tests.helpers.orders import place
from tests.helpers.web import Browserless

C, F, A = "coordinator", "fulfillment", "admin"
EVERYONE = {C, F, A}

POLICY = {
    "web.home": EVERYONE,
    "auth.sign_out": EVERYONE,
    "auth.sign_out_everywhere": EVERYONE,
    "orders.list_orders": EVERYONE,
    "orders.export_orders": EVERYONE,
    "orders.show_order": EVERYONE,
    "orders.go_to_order": EVERYONE,
    "orders.order_changes": EVERYONE,
    "orders.change_status": EVERYONE,  # which moves each role may make: see test_lifecycle
    "orders.add_note": EVERYONE,
    "orders.packing_summary": EVERYONE,
    "orders.packing_summaries": EVERYONE,
    "orders.record_printed": EVERYONE,
    "orders.pick_list_page": EVERYONE,
    "orders.record_pick_list_printed": EVERYONE,
    "orders.returns_station": EVERYONE,
    "orders.check_in_scan": {F, A},
    "orders.check_in_count": {F, A},
    "orders.record_unexpected": {F, A},
    "orders.close_return": {F, A},
    "orders.record_device": {F, A},
    "orders.next_order_page": {F, A},
    "orders.take_next_order": {F, A},
    "orders.take_over": {F, A},
    "orders.release": {F, A},
    "orders.remove_device": {F, A},
    "orders.add_tracking": {F, A},
    "orders.recognise_carrier": {F, A},
    "orders.remove_tracking": {F, A},
    "orders.new_order": {C, A},
    "orders.place_order": {C, A},
    "orders.new_order_lines": {C, A},
    "orders.new_order_options": {C, A},
    "orders.send_to_many": {C, A},
    "orders.send_to_many_step": {C, A},
    "orders.batch_result": {C, A},
    "auth.time_zone": {C, F, A},
    "orders.new_order_recipient": {C, A},
    "people.list_patients": {C, A},
    "people.show_patient": {C, A},
    "people.new_patient": {C, A},
    "people.edit_patient": {C, A},
    "people.archive_patient": {C, A},
    "people.restore_patient": {C, A},
    "people.import_patients": {C, A},
    "people.import_preview": {C, A},
    "people.run_import": {C, A},
    "people.rejected_rows": {C, A},
    "people.list_sites": {C, A},
    "people.show_site": {C, A},
    "people.new_site": {A},
    "people.edit_site": {A},
    "people.activate_site": {A},
    "people.deactivate_site": {A},
    "catalog.list_items": EVERYONE,
    "catalog.show_item": EVERYONE,
    "catalog.new_item": {A},
    "catalog.edit_item": {A},
    "catalog.list_kits": EVERYONE,
    "catalog.show_kit": EVERYONE,
    "catalog.new_kit": {A},
    "catalog.edit_kit": {A},
    "catalog.archive_kit": {A},
    "catalog.restore_kit": {A},
    "admin.list_users": {A},
    "admin.show_user": {A},
    "admin.new_user": {A},
    "admin.edit_user": {A},
    "admin.reset_password": {A},
    "admin.set_user_sites": {A},
    "admin.activate_user": {A},
    "admin.deactivate_user": {A},
    "admin.sign_out_user_everywhere": {A},
    "admin.api_keys": {A},
    "admin.revoke_api_key": {A},
    "inventory.stock": EVERYONE,
    "inventory.ledger": EVERYONE,
    "inventory.export_ledger": EVERYONE,
    "inventory.find_devices": EVERYONE,
    "inventory.export_devices": EVERYONE,
    "inventory.show_device": EVERYONE,
    "inventory.receive": {F, A},
    "inventory.adjust": {F, A},
    "inventory.current_stock": {F, A},
    "inventory.inspect_device": {F, A},
    "inventory.set_bin": {F, A},
    "inventory.locations": EVERYONE,
    "inventory.new_location": {A},
    "inventory.edit_location": {A},
    "inventory.make_default_location": {A},
    "inventory.deactivate_location": {A},
    "inventory.activate_location": {A},
    "admin.phi_access": {A},
    "webhooks.list_webhooks": {A},
    "webhooks.show_webhook": {A},
    "webhooks.enable_webhook": {A},
    "webhooks.disable_webhook": {A},
    "webhooks.ping_webhook": {A},
    "webhooks.rotate_secret": {A},
    "webhooks.delete_webhook": {A},
    "webhooks.redeliver_message": {A},
    "webhooks.retry_message": {A},
    "dashboard.dashboard": EVERYONE,  # coordinators without the stock cover
    "dashboard.stock_cover_csv": {F, A},
}
# Open to everyone, or guarded by an API key rather than a role.
NOT_ROLE_BASED = {"static", "auth.sign_in", "web.health"}


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_ROLE_BASED or rule.endpoint.startswith("api."):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def test_every_route_has_a_policy(app):
    missing = {rule.endpoint for rule, _ in routes(app)} - set(POLICY)
    assert missing == set()


def url_for_rule(rule, ids: dict) -> str:
    url = rule.rule
    for arg in rule.arguments:
        url = url.replace(f"<int:{arg}>", str(ids.get(arg, 1)))
    return url


@pytest.fixture
def ids(app, catalog):
    order_id = place(app, catalog, items={"strips": 1})
    return {
        "order_id": order_id,
        "patient_id": catalog.patient,
        "site_id": catalog.site,
        "item_id": catalog.items["strips"],
        "kit_id": catalog.kits["diabetes"],
        "user_id": catalog.users["fulfillment"],
        "key_id": 1,
        "import_id": 1,
        "order_device_id": 1,
    }


@pytest.mark.parametrize("role", [C, F, A])
def test_each_role_reaches_exactly_its_routes(app, client, ids, role):
    person = Browserless(client)
    assert person.sign_in(role).status_code == 303
    wrong = []
    for rule, method in routes(app):
        if rule.endpoint in ("auth.sign_out", "auth.sign_out_everywhere"):
            continue
        url = url_for_rule(rule, ids)
        response = person.get(url) if method == "GET" else person.post(url, {})
        allowed = role in POLICY[rule.endpoint]
        if allowed and response.status_code == 403 and rule.endpoint != "orders.change_status":
            wrong.append(f"{method} {url}: {role} refused")
        if not allowed and response.status_code != 403:
            wrong.append(f"{method} {url}: {role} let in ({response.status_code})")
        assert response.status_code < 500, f"{method} {url} as {role}: {response.status_code}"
    assert wrong == []


def test_signed_out_visitors_reach_nothing_but_sign_in(app, client, ids):
    for rule, method in routes(app):
        url = url_for_rule(rule, ids)
        response = client.get(url) if method == "GET" else client.post(url, data={})
        # GET: sent to sign in. POST: no session, so no CSRF token: refused before the view.
        assert response.status_code in ((302,) if method == "GET" else (400, 302)), (
            f"{method} {url}"
        )
        if response.status_code == 302:
            assert "/sign-in" in response.headers["Location"]

"""Schemathesis against the OpenAPI document, with every check it has: the document and the
code agree, and no input answers 5xx. A fixed seed and bounded examples keep it repeatable
and quick; it runs on whichever database the suite runs on."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from app.api.openapi import DOCUMENT

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
# Examples per operation: enough to reach every field and refusal (with 10, an empty ?page=
# was never sent), small enough to keep the run to seconds.
EXAMPLES = 30


# Placing an order, enrolling a patient, cancelling, recording returns and receiving stock
# check rules no JSON Schema can say (the items named exist and are orderable, a patient's
# identifier is free, the order is not packed yet, a return is due and what it names is asked
# back, a device identifier is valid for its item and not yet known, a webhook's address
# resolves to one that may be called):
# a schema-valid body may be refused there with 400, 404 or 409 and its code.
# Everywhere else a schema-valid request must be accepted.
CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261127,
        "operations": [
            {
                "include-operation-id": [
                    "createOrder",
                    "createPatient",
                    "cancelOrder",
                    "recordReturnArrivals",
                    "createReceipt",
                    "createWebhook",
                ],
                "checks": {
                    "positive_data_acceptance": {"expected-statuses": ["2xx", 400, 404, 409]}
                },
            }
        ],
    }
)
# The document the app serves (test_openapi checks that /api/v3/openapi.json is this).
schema = schemathesis.openapi.from_dict(DOCUMENT, config=CONFIG)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,  # the fixed seed: the same cases on every run
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_the_api_agrees_with_its_document(case, live_server, api_key, catalog, monkeypatch):
    # Schemathesis sends many refused keys on purpose; their throttling has its own tests.
    monkeypatch.setitem(live_server.app.config, "API_FAILED_KEYS_PER_ADDRESS", "10000/minute")
    case.call_and_validate(
        base_url=live_server.url, headers={"Impilo-API-Key": api_key}, checks=ALL_CHECKS
    )

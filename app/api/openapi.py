"""The OpenAPI 3.1 document of the v3 API. Tests validate real responses against it. The
schemas of orders, patients, sites and stock come from the Structs that write them
(app/api/serialize.py); requests, errors and webhooks are written out here."""

from __future__ import annotations

import msgspec
from flask import jsonify

from app.api import bp, parse, serialize
from app.api.parse import (
    DEFAULT_PAGE_SIZE,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_PAGE,
    MAX_PAGE_SIZE,
)
from app.catalog.models import DEVICE_IDENTIFIER_TYPES
from app.inventory.models import MAX_REFERENCE_LENGTH
from app.inventory.receipts import MAX_RECEIPT_UNITS
from app.orders import statuses
from app.orders.models import MAX_LINE_COUNT
from app.orders.service import MAX_EXTERNAL_ID_LENGTH, SHIPPING_OPTIONS
from app.people.models import SEXES
from app.validation import MAX_DB_ID
from app.webhooks.models import ATTEMPT_STATUSES, MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from app.webhooks.models import TYPES as WEBHOOK_TYPES
from app.webhooks.service import DELIVERIES_PAGE_SIZE, MAX_DELIVERIES_PAGE_SIZE


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def _object(properties: dict, required: list[str] | None = None) -> dict:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
    }


STRING = {"type": "string"}
NULLABLE_STRING = {"type": ["string", "null"]}
INTEGER = {"type": "integer"}
BOOLEAN = {"type": "boolean"}
TIMESTAMP = {"type": "string", "format": "date-time"}
ID = {"type": "integer", "minimum": 1, "maximum": MAX_DB_ID}
# A text query parameter: never empty or blank (app/api/parse.py refuses both).
TEXT_PARAMETER = {"type": "string", "minLength": 1, "pattern": r"\S"}
ID_REF = _object({"id": {"type": "integer", "minimum": 1}}, ["id"])
PAGE = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1}
PAGE_SIZE = {
    "type": "integer",
    "minimum": 1,
    "maximum": MAX_PAGE_SIZE,
    "default": DEFAULT_PAGE_SIZE,
}


def _list(schema: dict) -> dict:
    return {"type": "array", "items": schema}


SCHEMAS = {
    "Error": _object(
        {
            "error": _object(
                {
                    "code": STRING,
                    "message": STRING,
                    "field": NULLABLE_STRING,
                    "details": _list(
                        _object({"code": STRING, "message": STRING, "field": NULLABLE_STRING})
                    ),
                },
                ["code", "message", "field"],
            )
        }
    ),
    "ReceiptCreate": {
        "type": "object",
        "description": "Counted lines for items not tracked by device; devices by identifier. "
        "The location is the default one when left out.",
        "properties": {
            "location": _nullable(ID_REF),
            "reference": {"type": ["string", "null"], "maxLength": MAX_REFERENCE_LENGTH},
            "lines": _list(
                _object(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_RECEIPT_UNITS},
                    }
                )
            ),
            "devices": _list(
                _object(
                    {
                        "item": ID_REF,
                        "deviceIdentifiers": _list(
                            _object(
                                {
                                    "type": {"enum": list(DEVICE_IDENTIFIER_TYPES)},
                                    "value": STRING,
                                },
                                ["value"],
                            )
                        ),
                    }
                )
            ),
        },
    },
    "OrderCreate": {
        "type": "object",
        "description": "Exactly one of patient or site. At least one order or return line.",
        # Not both recipients (either may be null, and one alone is checked by the service).
        "not": {
            "properties": {"patient": {"type": "object"}, "site": {"type": "object"}},
            "required": ["patient", "site"],
        },
        "properties": {
            "externalOrderIds": _list(
                {"type": "string", "minLength": 1, "maxLength": MAX_EXTERNAL_ID_LENGTH}
            ),
            "patient": _nullable(ID_REF),
            "site": _nullable(ID_REF),
            "orderItems": _list(
                _object(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
                    }
                )
            ),
            "orderKits": _list(
                _object(
                    {
                        "kit": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
                    }
                )
            ),
            "returnItems": _list(
                _object(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
                    }
                )
            ),
            "returnDevices": _list(ID_REF),
            "returnPackedKits": _list(ID_REF),
            "shippingOption": {"enum": [*SHIPPING_OPTIONS, None], "default": "standard"},
            "emailLabel": {"type": "boolean", "default": False},
            "orderNotes": _list(_object({"note": STRING})),
            "fulfillmentLocation": {
                **_nullable(ID_REF),
                "description": "The stock location that fulfils the order; the default one "
                "when left out.",
            },
        },
    },
    "PatientCreate": {
        "type": "object",
        "required": ["externalIdentifier", "firstName", "lastName", "address"],
        "properties": {
            "externalIdentifier": {"type": "string", "minLength": 1, "maxLength": 64},
            "firstName": {"type": "string", "minLength": 1, "maxLength": 100},
            "lastName": {"type": "string", "minLength": 1, "maxLength": 100},
            "dateOfBirth": {"type": ["string", "null"], "format": "date"},
            "email": {"type": ["string", "null"], "format": "email"},
            "phoneNumber": {
                "type": ["string", "null"],
                "description": "Stored in E.164, which has no extension: a number with one is "
                "refused",
            },
            "sex": {"enum": [*SEXES, None]},
            "enrolled": {"type": "boolean", "default": True},
            "address": {
                "type": "object",
                "required": ["lineOne", "city", "state", "zipCode"],
                "properties": {
                    "lineOne": STRING,
                    "lineTwo": NULLABLE_STRING,
                    "lineThree": NULLABLE_STRING,
                    "city": STRING,
                    "state": {"type": "string", "minLength": 2, "maxLength": 2},
                    "zipCode": {"type": "string", "pattern": "^[0-9]{5}(-[0-9]{4})?$"},
                    "country": {"const": "US"},
                    "note": NULLABLE_STRING,
                },
            },
            "site": _nullable(ID_REF),
        },
    },
    "WebhookCreate": _object(
        {
            "url": {
                "type": "string",
                "maxLength": MAX_URL_LENGTH,
                "description": "An http(s) URL without whitespace, control characters, user "
                "name or #fragment; its host a name (IDNA allowed, no digits but 0-9) or an "
                "address that is not link-local, cloud metadata or otherwise undeliverable "
                "(also when wrapped in IPv6: mapped, NAT64, 6to4, Teredo)",
            },
            "types": {
                "type": "array",
                "items": {"enum": list(WEBHOOK_TYPES)},
                "minItems": 1,
                "description": "order.statusFull needs a key with orders:read (else 403 "
                "insufficient_scope); its order's patient carries the patient's details only "
                'if the key has patients:read, else {"id"} only',
            },
            "description": {"type": ["string", "null"], "maxLength": MAX_DESCRIPTION_LENGTH},
        },
        ["url", "types"],
    ),
    "Webhook": _object(
        {
            "id": INTEGER,
            "url": STRING,
            "types": _list({"enum": list(WEBHOOK_TYPES)}),
            "description": NULLABLE_STRING,
            "enabled": BOOLEAN,
            "disabledReason": NULLABLE_STRING,
            "createdAt": TIMESTAMP,
        }
    ),
    "WebhookPage": _object(
        {
            "content": _list(_ref("Webhook")),
            "page": INTEGER,
            "size": {**INTEGER, "description": "The page size asked for (not the count)"},
            "total": INTEGER,
            "first": BOOLEAN,
            "last": BOOLEAN,
        }
    ),
    "WebhookDelivery": _object(
        {
            "id": INTEGER,
            "eventId": {"type": "string", "description": "The webhook-id the receiver gets"},
            "type": STRING,
            "orderId": {"type": ["integer", "null"]},
            "attempt": INTEGER,
            "status": {"enum": list(ATTEMPT_STATUSES)},
            "responseStatus": {"type": ["integer", "null"]},
            "error": NULLABLE_STRING,
            "attemptedAt": _nullable(TIMESTAMP),
            "nextAttemptAt": _nullable(TIMESTAMP),
            "durationMs": {"type": ["integer", "null"]},
        }
    ),
    "WebhookDeliveryPage": _object(
        {
            "content": _list(_ref("WebhookDelivery")),
            "page": INTEGER,
            "size": INTEGER,
            "total": INTEGER,
            "first": BOOLEAN,
            "last": BOOLEAN,
        }
    ),
}


def _as_in_the_contract(node):
    """The Structs are named ``<Shape>Json`` (beside the models of the same name); their
    components keep the contract's names: ``OrderJson`` is the component ``Order``."""
    if isinstance(node, dict):
        return {
            _contract_name(key): _contract_name(value)
            if key in ("$ref", "title") and isinstance(value, str)
            else _as_in_the_contract(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_as_in_the_contract(value) for value in node]
    return node


def _contract_name(name: str) -> str:
    return name.removesuffix("Json")


# The shapes of the answers about orders, patients, sites and stock, as app/api/serialize.py
# declares them: the JSON is written from the same Structs (each component is named as its
# Struct, without "Json").
_, ANSWER_SCHEMAS = msgspec.json.schema_components(
    [
        serialize.OrderPageJson,
        serialize.PatientRefJson,
        serialize.SitePageJson,
        serialize.StockPageJson,
        serialize.DevicePageJson,
        serialize.ReceiptJson,
    ],
    ref_template="#/components/schemas/{name}",
)
ANSWER_SCHEMAS = _as_in_the_contract(ANSWER_SCHEMAS)
if ANSWER_SCHEMAS.keys() & SCHEMAS.keys():
    raise RuntimeError("a hand-written schema shadows a Struct's")
SCHEMAS.update(ANSWER_SCHEMAS)
# An order's patient: whole for a key with patients:read, else named by id only (see
# serialize.OrderJson).
SCHEMAS["Order"]["properties"]["patient"] = {
    "anyOf": [_ref("Patient"), _ref("PatientRef"), {"type": "null"}],
    "description": 'The patient, whole for a key with patients:read; else {"id"} only. '
    "Null for a site's order.",
}
SCHEMAS["WebhookCreated"] = {
    "allOf": [
        _ref("Webhook"),
        _object(
            {"secret": {"type": "string", "pattern": "^whsec_", "description": "Shown only here"}}
        ),
    ]
}
WEBHOOK_ID = {"name": "webhookId", "in": "path", "required": True, "schema": ID}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Orderly v3 order API",
        "version": "3.0.0",
        "description": "Orders of medical items and kits for patients and sites, in the shapes "
        'of the public v3 order API. Every error is {"error": {code, message, field}}.',
    },
    "servers": [{"url": "/"}],
    "security": [{"apiKey": []}],
    "paths": {
        "/api/v3/order": {
            "post": {
                "operationId": "createOrder",
                "summary": "Place an order",
                "parameters": [
                    {
                        "name": "Idempotency-Key",
                        "in": "header",
                        "required": False,
                        "schema": {"type": "string", "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH},
                        "description": "Repeating a request with the same key returns the first "
                        "order; the same key with a different body answers 409.",
                    }
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("OrderCreate")}},
                },
                "responses": {
                    "201": _json("Order", "The order as placed"),
                    "400": _error(
                        "The request breaks a rule; nothing was stored. insufficient_inventory "
                        "points at the line (orderItems[1].count) that the location cannot fill"
                    ),
                    "401": _error("No valid API key"),
                    "409": _error("The Idempotency-Key was used for another order"),
                    "413": _error("The body is too large"),
                    "415": _error("The body is not JSON"),
                },
            },
            "get": {
                "operationId": "listOrders",
                "summary": "List orders, newest first",
                "parameters": [
                    _query("page", PAGE, "From 1"),
                    _query(
                        "size",
                        PAGE_SIZE,
                        "Orders per page",
                    ),
                    _query("status", {"enum": list(statuses.ALL)}, "Only orders in this status"),
                    _query("patientId", ID, "Only this patient's"),
                    _query("siteId", ID, "Only orders shipped to this site"),
                    _query(
                        "responsibleSiteId",
                        ID,
                        "Only orders this site is responsible for: shipped to it or to its"
                        " patients",
                    ),
                    _query(
                        "externalOrderId",
                        {**TEXT_PARAMETER, "maxLength": MAX_EXTERNAL_ID_LENGTH},
                        "Orders carrying this external order id",
                    ),
                ],
                "responses": {
                    "200": _json("OrderPage", "One page of orders"),
                    "400": _error("A parameter is not valid"),
                    "401": _error("No valid API key"),
                },
            },
        },
        "/api/v3/order/{orderId}/cancel": {
            "post": {
                "operationId": "cancelOrder",
                "summary": "Cancel an order that has not been packed",
                "parameters": [
                    {"name": "orderId", "in": "path", "required": True, "schema": INTEGER}
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": _object(
                                {"reason": {"type": "string", "minLength": 1, "maxLength": 500}}
                            )
                        }
                    },
                },
                "responses": {
                    "200": _json("Order", "The cancelled order"),
                    "400": _error("No reason given"),
                    "401": _error("No valid API key"),
                    "404": _error("No such order"),
                    "409": _error("The order can no longer be cancelled (e.g. packed or shipped)"),
                    "415": _error("The body is not JSON"),
                },
            }
        },
        "/api/v3/patient": {
            "post": {
                "operationId": "createPatient",
                "summary": "Enrol a patient",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("PatientCreate")}},
                },
                "responses": {
                    "201": _json("Patient", "The patient as stored"),
                    "400": _error("The request breaks a rule; nothing was stored"),
                    "401": _error("No valid API key"),
                    "409": _error("The external identifier belongs to another patient"),
                    "415": _error("The body is not JSON"),
                },
            }
        },
        "/api/v3/patient/{patientId}": {
            "get": {
                "operationId": "getPatient",
                "summary": "Fetch one patient",
                "parameters": [
                    {"name": "patientId", "in": "path", "required": True, "schema": INTEGER}
                ],
                "responses": {
                    "200": _json("Patient", "The patient"),
                    "401": _error("No valid API key"),
                    "404": _error("No such patient"),
                },
            }
        },
        "/api/v3/site": {
            "get": {
                "operationId": "listSites",
                "summary": "List sites",
                "parameters": [
                    _query("page", PAGE, "From 1"),
                    _query(
                        "size",
                        PAGE_SIZE,
                        "Sites per page",
                    ),
                    _query("active", {"enum": ["true", "false"]}, "Only active or inactive sites"),
                ],
                "responses": {
                    "200": _json("SitePage", "One page of sites"),
                    "400": _error("A parameter is not valid"),
                    "401": _error("No valid API key"),
                },
            }
        },
        "/api/v3/inventory": {
            "get": {
                "operationId": "listInventory",
                "summary": "Stock figures per item and location",
                "parameters": [
                    _query("page", PAGE, "From 1"),
                    _query("size", PAGE_SIZE, "Rows per page"),
                    _query("itemId", ID, "Only this item"),
                    _query("locationId", ID, "Only this location"),
                ],
                "responses": {
                    "200": _json("StockPage", "One page of stock figures"),
                    "400": _error("A parameter is not valid"),
                    "401": _error("No valid API key"),
                },
            }
        },
        "/api/v3/inventory/receipts": {
            "post": {
                "operationId": "createReceipt",
                "summary": "Receive counted items and devices into a location",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("ReceiptCreate")}},
                },
                "responses": {
                    "201": _json("Receipt", "The receipt as stored"),
                    "400": _error(
                        "The request breaks a rule (e.g. a counted line for a device-tracked "
                        "item); nothing was stored"
                    ),
                    "401": _error("No valid API key"),
                    "409": _error("A device identifier is already known"),
                    "415": _error("The body is not JSON"),
                },
            }
        },
        "/api/v3/device": {
            "get": {
                "operationId": "findDevices",
                "summary": "Devices by any of their identifiers",
                "parameters": [
                    {
                        "name": "identifier",
                        "in": "query",
                        "required": True,
                        "schema": {**TEXT_PARAMETER, "maxLength": 64},
                        "description": "A serial, IMEI, MAC address, ICCID or SIM number",
                    },
                    _query("page", PAGE, "From 1"),
                    _query("size", PAGE_SIZE, "Devices per page"),
                ],
                "responses": {
                    "200": _json("DevicePage", "The devices with that identifier"),
                    "400": _error("No identifier given"),
                    "401": _error("No valid API key"),
                },
            }
        },
        "/api/v3/webhook": {
            "post": {
                "operationId": "createWebhook",
                "summary": "Subscribe a URL to order events; the answer carries the secret once",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": _ref("WebhookCreate")}},
                },
                "responses": {
                    "201": _json("WebhookCreated", "The subscription and its signing secret"),
                    "400": _error("The URL or the types are refused; nothing was stored"),
                    "401": _error("No valid API key"),
                    "403": _error(
                        "The key lacks webhooks:manage, or orders:read for order.statusFull "
                        "(insufficient_scope)"
                    ),
                    "415": _error("The body is not JSON"),
                },
            },
            "get": {
                "operationId": "listWebhooks",
                "summary": "List the subscriptions this key made, oldest first (never their "
                "secrets)",
                "parameters": [
                    _query("page", PAGE, "From 1"),
                    _query("size", PAGE_SIZE, "Subscriptions per page"),
                ],
                "responses": {
                    "200": _json("WebhookPage", "One page of the key's subscriptions"),
                    "400": _error("A parameter is not valid"),
                    "401": _error("No valid API key"),
                },
            },
        },
        "/api/v3/webhook/{webhookId}": {
            "get": {
                "operationId": "getWebhook",
                "summary": "Fetch one subscription this key made",
                "parameters": [WEBHOOK_ID],
                "responses": {
                    "200": _json("Webhook", "The subscription"),
                    "400": _error("A query parameter was given (this operation takes none)"),
                    "401": _error("No valid API key"),
                    "404": _error("No such subscription made by this key"),
                },
            },
            "delete": {
                "operationId": "deleteWebhook",
                "summary": "Delete a subscription this key made: nothing more is sent to it",
                "parameters": [WEBHOOK_ID],
                "responses": {
                    "204": {"description": "Deleted"},
                    "400": _error("A query parameter was given (this operation takes none)"),
                    "401": _error("No valid API key"),
                    "404": _error("No such subscription made by this key"),
                },
            },
        },
        "/api/v3/webhook/{webhookId}/deliveries": {
            "get": {
                "operationId": "listWebhookDeliveries",
                "summary": "Every delivery attempt to a subscription this key made, newest first",
                "parameters": [
                    WEBHOOK_ID,
                    _query("page", PAGE, "From 1"),
                    _query(
                        "size",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_DELIVERIES_PAGE_SIZE,
                            "default": DELIVERIES_PAGE_SIZE,
                        },
                        "Attempts per page",
                    ),
                ],
                "responses": {
                    "200": _json("WebhookDeliveryPage", "One page of attempts"),
                    "400": _error("A parameter is not valid"),
                    "401": _error("No valid API key"),
                    "404": _error("No such subscription made by this key"),
                },
            }
        },
        "/api/v3/order/{orderId}": {
            "get": {
                "operationId": "getOrder",
                "summary": "Fetch one order",
                "parameters": [
                    {"name": "orderId", "in": "path", "required": True, "schema": INTEGER}
                ],
                "responses": {
                    "200": _json("Order", "The order"),
                    "401": _error("No valid API key"),
                    "404": _error("No such order"),
                },
            }
        },
    },
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "Impilo-API-Key"}},
    },
}


def _answers_every_operation_may_give(document: dict) -> dict:
    """The answers any keyed operation can give, on every operation: a query parameter it does
    not take (or one given empty or twice), a missing or refused key, a key without the scope
    (the scope named in the description), throttling, and the database being away."""
    for path in document["paths"].values():
        for operation in path.values():
            responses = operation["responses"]
            responses.setdefault(
                "400",
                _error(
                    "A query parameter the operation does not take (unknown_parameter), or one "
                    "given empty or twice (invalid_parameter)"
                ),
            )
            responses.setdefault("401", _error("No API key, or one that is not valid"))
            responses.setdefault("403", _error("The API key lacks the scope (insufficient_scope)"))
            responses.setdefault("429", _error("Too many requests: wait Retry-After seconds"))
            responses.setdefault("503", _error("The database cannot be reached: try again"))
    return document


_answers_every_operation_may_give(DOCUMENT)


@bp.get("/openapi.json")
def openapi():
    parse.only_args()
    return jsonify(DOCUMENT)

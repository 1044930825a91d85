"""The components of the OpenAPI document (app/api/openapi.py): requests, errors and
webhooks written out here; orders, patients, sites and stock taken from the Structs that write
them (app/orders/serialize.py)."""

from __future__ import annotations

import msgspec

from app.api.parse import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE,
    MAX_PAGE_SIZE,
)
from app.catalog.models import DEVICE_IDENTIFIER_TYPES
from app.inventory.models import MAX_REFERENCE_LENGTH
from app.inventory.receipts import MAX_RECEIPT_UNITS
from app.orders import serialize
from app.orders.models import MAX_LINE_COUNT
from app.orders.service import MAX_EXTERNAL_ID_LENGTH, SHIPPING_OPTIONS
from app.people.models import SEXES
from app.validation import MAX_DB_ID
from app.webhooks.models import ATTEMPT_STATUSES, MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from app.webhooks.models import TYPES as WEBHOOK_TYPES


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict) -> dict:
    return {"anyOf": [schema, {"type": "null"}]}


def object_schema(properties: dict, required: list[str] | None = None) -> dict:
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
ID_REF = object_schema({"id": {"type": "integer", "minimum": 1}}, ["id"])
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
    "Error": object_schema(
        {
            "error": object_schema(
                {
                    "code": STRING,
                    "message": STRING,
                    "field": NULLABLE_STRING,
                    "details": _list(
                        object_schema({"code": STRING, "message": STRING, "field": NULLABLE_STRING})
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
                object_schema(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_RECEIPT_UNITS},
                    }
                )
            ),
            "devices": _list(
                object_schema(
                    {
                        "item": ID_REF,
                        "deviceIdentifiers": _list(
                            object_schema(
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
    "ReturnArrivals": {
        "type": "object",
        "description": "What came back: devices by identifier (classified by format, as at "
        "packing; case, spaces and dashes as scanned) and counted return items. At least one.",
        "properties": {
            "deviceIdentifiers": _list(object_schema({"value": STRING}, ["value"])),
            "returnItems": _list(
                object_schema(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
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
                object_schema(
                    {
                        "item": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
                    }
                )
            ),
            "orderKits": _list(
                object_schema(
                    {
                        "kit": ID_REF,
                        "count": {"type": "integer", "minimum": 1, "maximum": MAX_LINE_COUNT},
                    }
                )
            ),
            "returnItems": _list(
                object_schema(
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
            "orderNotes": _list(object_schema({"note": STRING})),
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
    "WebhookCreate": object_schema(
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
    "Webhook": object_schema(
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
    "WebhookPage": object_schema(
        {
            "content": _list(ref("Webhook")),
            "page": INTEGER,
            "size": {**INTEGER, "description": "The page size asked for (not the count)"},
            "total": INTEGER,
            "first": BOOLEAN,
            "last": BOOLEAN,
        }
    ),
    "WebhookDelivery": object_schema(
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
    "WebhookDeliveryPage": object_schema(
        {
            "content": _list(ref("WebhookDelivery")),
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


# The shapes of the answers about orders, patients, sites and stock, as app/orders/serialize.py
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
    "anyOf": [ref("Patient"), ref("PatientRef"), {"type": "null"}],
    "description": 'The patient, whole for a key with patients:read; else {"id"} only. '
    "Null for a site's order.",
}
SCHEMAS["WebhookCreated"] = {
    "allOf": [
        ref("Webhook"),
        object_schema(
            {"secret": {"type": "string", "pattern": "^whsec_", "description": "Shown only here"}}
        ),
    ]
}

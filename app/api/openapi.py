"""The OpenAPI 3.1 document of the v3 API. Tests validate real responses against it."""

from __future__ import annotations

from flask import jsonify

from app.api import bp
from app.catalog.models import DEVICE_IDENTIFIER_TYPES, SIZES
from app.orders import statuses
from app.orders.models import MAX_LINE_COUNT
from app.orders.queries import TOTAL_CAP
from app.orders.service import MAX_EXTERNAL_ID_LENGTH, SHIPPING_OPTIONS
from app.people.models import SEXES


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
ID_REF = _object({"id": {"type": "integer", "minimum": 1}}, ["id"])


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
    "Address": _object(
        {
            "lineOne": STRING,
            "lineTwo": NULLABLE_STRING,
            "lineThree": NULLABLE_STRING,
            "city": STRING,
            "state": STRING,
            "zipCode": STRING,
            "country": STRING,
            "note": NULLABLE_STRING,
        }
    ),
    "Site": _object(
        {
            "id": INTEGER,
            "name": STRING,
            "active": BOOLEAN,
            "phoneNumber": NULLABLE_STRING,
            "address": _ref("Address"),
        }
    ),
    "Patient": _object(
        {
            "id": INTEGER,
            "externalIdentifier": STRING,
            "firstName": STRING,
            "lastName": STRING,
            "dateOfBirth": {"type": ["string", "null"], "format": "date"},
            "email": NULLABLE_STRING,
            "phoneNumber": NULLABLE_STRING,
            "sex": {"enum": list(SEXES)},
            "archived": BOOLEAN,
            "enrolled": BOOLEAN,
            "address": _ref("Address"),
            "site": _nullable(_ref("Site")),
        }
    ),
    "Item": _object(
        {
            "id": INTEGER,
            "name": STRING,
            "sku": STRING,
            "model": NULLABLE_STRING,
            "manufacturer": _nullable(_object({"id": INTEGER, "name": STRING})),
            "orderable": BOOLEAN,
            "deviceIdentifierType": {"enum": [*DEVICE_IDENTIFIER_TYPES, None]},
            "serialPattern": NULLABLE_STRING,
            "size": {"enum": [*SIZES, None]},
        }
    ),
    "Kit": _object(
        {
            "id": INTEGER,
            "name": STRING,
            "archived": BOOLEAN,
            "kitItems": _list(_object({"item": _ref("Item"), "count": INTEGER})),
        }
    ),
    "Device": _object(
        {
            "id": INTEGER,
            "item": _ref("Item"),
            "currentStatus": STRING,
            "deviceIdentifiers": _list(
                _object({"type": {"enum": list(DEVICE_IDENTIFIER_TYPES)}, "value": STRING})
            ),
            "externalIdentifier": NULLABLE_STRING,
        }
    ),
    "PackedKit": _object(
        {
            "id": INTEGER,
            "kit": _object({"id": INTEGER, "name": STRING, "archived": BOOLEAN}),
            "devices": _list(_ref("Device")),
        }
    ),
    "Order": _object(
        {
            "id": INTEGER,
            "externalOrderIds": _list(STRING),
            "patient": _nullable(_ref("Patient")),
            "site": _nullable(_ref("Site")),
            "currentStatus": {"enum": list(statuses.ALL)},
            "orderItems": _list(_object({"item": _ref("Item"), "count": INTEGER})),
            "orderKits": _list(_object({"kit": _ref("Kit"), "count": INTEGER})),
            "orderEvents": _list(
                _object(
                    {
                        "name": STRING,
                        "eventTimestamp": TIMESTAMP,
                        "note": NULLABLE_STRING,
                        "actor": STRING,
                    }
                )
            ),
            "trackingNumbers": _list(_object({"carrier": STRING, "value": STRING})),
            "devices": _list(_ref("Device")),
            "packedKits": _list(_ref("PackedKit")),
            "orderNotes": _list(
                _object(
                    {
                        "note": STRING,
                        "createdAt": TIMESTAMP,
                        "createdBy": _nullable(
                            _object(
                                {
                                    "id": INTEGER,
                                    "firstName": STRING,
                                    "lastName": STRING,
                                    "email": STRING,
                                }
                            )
                        ),
                    }
                )
            ),
            "shippingOption": {"enum": [*SHIPPING_OPTIONS, None]},
            "returnItems": _list(_object({"item": _ref("Item"), "count": INTEGER})),
            "returnDevices": _list(_ref("Device")),
            "returnPackedKits": _list(_ref("PackedKit")),
            "emailLabel": BOOLEAN,
            "createdAt": TIMESTAMP,
            "updatedAt": TIMESTAMP,
        }
    ),
    "OrderCreate": {
        "type": "object",
        "description": "Exactly one of patient or site. At least one order or return line.",
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
            "phoneNumber": {"type": ["string", "null"], "description": "Stored in E.164"},
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
    "SitePage": _object(
        {
            "content": _list(_ref("Site")),
            "page": INTEGER,
            "size": INTEGER,
            "total": INTEGER,
            "first": BOOLEAN,
            "last": BOOLEAN,
        }
    ),
    "OrderPage": _object(
        {
            "content": _list(_ref("Order")),
            "page": INTEGER,
            "size": INTEGER,
            "total": {
                "type": "integer",
                "description": (
                    f"Orders that match, counted up to {TOTAL_CAP:,} (or up to the end of "
                    "the page asked for, if further): when more match, this is that many "
                    "and totalCapped is true."
                ),
            },
            "totalCapped": {
                "type": "boolean",
                "description": "More orders match than total says; total is a lower bound.",
            },
            "first": BOOLEAN,
            "last": BOOLEAN,
        }
    ),
}


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
                        "schema": {"type": "string", "maxLength": 255},
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
                    "400": _error("The request breaks a rule; nothing was stored"),
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
                    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "From 1"),
                    _query(
                        "size",
                        {"type": "integer", "minimum": 1, "maximum": 250, "default": 15},
                        "Orders per page",
                    ),
                    _query("status", {"enum": list(statuses.ALL)}, "Only orders in this status"),
                    _query("patientId", {"type": "integer", "minimum": 1}, "Only this patient's"),
                    _query("siteId", {"type": "integer", "minimum": 1}, "Only this site's"),
                    _query("externalOrderId", STRING, "Orders carrying this external order id"),
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
                    _query("page", {"type": "integer", "minimum": 1, "default": 1}, "From 1"),
                    _query(
                        "size",
                        {"type": "integer", "minimum": 1, "maximum": 250, "default": 15},
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


@bp.get("/openapi.json")
def openapi():
    return jsonify(DOCUMENT)

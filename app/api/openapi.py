"""The OpenAPI 3.1 document of the v3 API. Tests validate real responses against it. The
schemas of orders, patients, sites and stock come from the Structs that write them
(app/orders/serialize.py); requests, errors and webhooks are written out here."""

from __future__ import annotations

from flask import jsonify

from app.api import bp, parse
from app.api.openapi_schemas import (
    ID,
    INTEGER,
    PAGE,
    PAGE_SIZE,
    SCHEMAS,
    TEXT_PARAMETER,
    object_schema,
    ref,
)
from app.api.parse import (
    MAX_IDEMPOTENCY_KEY_LENGTH,
)
from app.orders import statuses
from app.orders.service import MAX_EXTERNAL_ID_LENGTH
from app.validation import MAX_REASON_LENGTH
from app.webhooks.service import DELIVERIES_PAGE_SIZE, MAX_DELIVERIES_PAGE_SIZE

WEBHOOK_ID = {"name": "webhookId", "in": "path", "required": True, "schema": ID}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref("Error")}},
    }


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": ref(schema_name)}},
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
                    "content": {"application/json": {"schema": ref("OrderCreate")}},
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
                            "schema": object_schema(
                                {
                                    "reason": {
                                        "type": "string",
                                        "minLength": 1,
                                        "maxLength": MAX_REASON_LENGTH,
                                    }
                                }
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
        "/api/v3/order/{orderId}/returns": {
            "post": {
                "operationId": "recordReturnArrivals",
                "summary": "Record what came back on a return, by device identifier and count",
                "description": (
                    "The returns station's rules: each identifier must be a device the order "
                    "asks back (returnDevices, or in returnPackedKits) and not checked in yet; "
                    "each count at most what is still expected. All or nothing. Expected "
                    "devices go to quarantine for inspection, counted items back into stock; "
                    "the order becomes partlyReturned, or returned once everything is back. "
                    "Needs orders:write."
                ),
                "parameters": [
                    {"name": "orderId", "in": "path", "required": True, "schema": INTEGER}
                ],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": ref("ReturnArrivals")}},
                },
                "responses": {
                    "200": _json("Order", "The order, with each return line's arrival"),
                    "400": _error(
                        "A value breaks a rule (e.g. device_not_expected, invalid_identifier, "
                        "too_many_items); nothing was recorded"
                    ),
                    "401": _error("No valid API key"),
                    "404": _error("No such order"),
                    "409": _error(
                        "Not awaiting a return (not_awaiting_return), or a device already "
                        "checked in (device_already_checked_in)"
                    ),
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
                    "content": {"application/json": {"schema": ref("PatientCreate")}},
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
                    "content": {"application/json": {"schema": ref("ReceiptCreate")}},
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
                    "content": {"application/json": {"schema": ref("WebhookCreate")}},
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

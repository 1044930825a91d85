"""/api/v3/webhook: subscriptions and their delivery log, through the webhooks service."""

from __future__ import annotations

from flask import jsonify, url_for

from app.api import bp, parse
from app.api.auth import api_actor
from app.api.errors import ApiError, problems_response
from app.auth import scopes
from app.auth.scopes import scope_required
from app.formats import timestamp
from app.validation import Rejected
from app.webhooks import service
from app.webhooks.models import WebhookAttempt, WebhookSubscription


def subscription_json(s: WebhookSubscription) -> dict:
    return {
        "id": s.id,
        "url": s.url,
        "types": s.type_list,
        "description": s.description,
        "enabled": s.enabled,
        "disabledReason": s.disabled_reason,
        "createdAt": timestamp(s.created_at),
    }


def attempt_json(a: WebhookAttempt) -> dict:
    return {
        "id": a.id,
        "eventId": a.message.message_id,
        "type": a.message.type,
        "orderId": a.message.order_id,
        "attempt": a.attempt,
        "status": a.status,
        "responseStatus": a.response_status,
        "error": a.error,
        "attemptedAt": timestamp(a.attempted_at),
        "nextAttemptAt": timestamp(a.next_attempt_at),
        "durationMs": a.duration_ms,
    }


def _found(subscription_id: int) -> WebhookSubscription:
    """The subscription, if this key made it: another key's answers 404 as a missing one."""
    found = service.subscription(subscription_id, api_actor())
    if found is None:
        raise ApiError(404, "webhook_not_found", f"There is no webhook with id {subscription_id}.")
    return found


@bp.post("/webhook")
@scope_required(scopes.WEBHOOKS_MANAGE)
def create_webhook():
    parse.only_args()
    body = parse.object_at(parse.json_body(), "The request body", required=True)
    draft = service.SubscriptionDraft(
        url=body.get("url"), types=body.get("types"), description=body.get("description")
    )
    try:
        created = service.create_subscription(draft, api_actor())
    except Rejected as rejected:
        if rejected.problems[0].code == "insufficient_scope":
            first = rejected.problems[0]
            raise ApiError(403, first.code, first.message, first.field) from None
        return problems_response(rejected.problems)
    response = jsonify({**subscription_json(created.subscription), "secret": created.secret})
    response.status_code = 201
    response.headers["Location"] = url_for(
        "api.get_webhook", subscription_id=created.subscription.id
    )
    return response


@bp.get("/webhook")
@scope_required(scopes.WEBHOOKS_MANAGE)
def list_webhooks():
    """The key's own subscriptions, paged as every list is."""
    parse.only_args("page", "size")
    page_number, size = parse.page_args()
    page = service.page_of_subscriptions(api_actor(), page_number, size)
    return jsonify(
        {
            "content": [subscription_json(s) for s in page.subscriptions],
            "page": page.page,
            "size": page.size,
            "total": page.total,
            "first": page.first,
            "last": page.last,
        }
    )


@bp.get("/webhook/<int:subscription_id>")
@scope_required(scopes.WEBHOOKS_MANAGE)
def get_webhook(subscription_id: int):
    parse.only_args()
    return jsonify(subscription_json(_found(subscription_id)))


@bp.delete("/webhook/<int:subscription_id>")
@scope_required(scopes.WEBHOOKS_MANAGE)
def delete_webhook(subscription_id: int):
    parse.only_args()
    try:
        service.delete_subscription(subscription_id, api_actor())
    except Rejected:
        raise ApiError(
            404, "webhook_not_found", f"There is no webhook with id {subscription_id}."
        ) from None
    return "", 204


@bp.get("/webhook/<int:subscription_id>/deliveries")
@scope_required(scopes.WEBHOOKS_MANAGE)
def webhook_deliveries(subscription_id: int):
    parse.only_args("page", "size")
    _found(subscription_id)
    page = service.deliveries(
        subscription_id,
        page=parse.positive_int_arg("page", default=1, maximum=parse.MAX_PAGE),
        size=parse.positive_int_arg(
            "size",
            default=service.DELIVERIES_PAGE_SIZE,
            maximum=service.MAX_DELIVERIES_PAGE_SIZE,
        ),
    )
    return jsonify(
        {
            "content": [attempt_json(a) for a in page.attempts],
            "page": page.page,
            "size": page.size,
            "total": page.total,
            "first": page.first,
            "last": page.last,
        }
    )

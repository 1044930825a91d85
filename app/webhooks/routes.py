"""The Webhooks page, for admins: subscriptions, their secrets once, and the delivery log."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from app.auth.access import role_required, signed_in_actor
from app.db.types import utcnow
from app.forms import ActionForm, put_problems_on_fields
from app.history.changes import history_of
from app.validation import Rejected, parse_int
from app.webhooks import service
from app.webhooks.forms import SubscriptionForm

bp = Blueprint("webhooks", __name__, url_prefix="/admin/webhooks")


@bp.route("/", methods=["GET", "POST"])
@role_required()
def list_webhooks():
    form = SubscriptionForm()
    if request.method == "GET":
        form.types.data = ["order.status"]
    created, status, problems = None, 200, []
    if request.method == "POST":
        draft = service.SubscriptionDraft(
            url=form.url.data, types=form.types.data or [], description=form.description.data
        )
        try:
            created = service.create_subscription(draft, signed_in_actor())
        except Rejected as rejected:
            problems = put_problems_on_fields(form, rejected.problems)
            status = 422
        else:
            form = SubscriptionForm(formdata=None, data={"types": ["order.status"]})
    return (
        render_template(
            "webhooks/list.html",
            form=form,
            problems=problems,
            created=created,
            subscriptions=service.subscriptions(signed_in_actor()),
        ),
        status,
    )


def _page(subscription_id: int, new_secret: str | None = None):
    found = service.subscription(subscription_id, signed_in_actor())
    if found is None:
        abort(404)
    page_number = parse_int(request.args.get("page"), 6) or 1
    return render_template(
        "webhooks/show.html",
        subscription=found,
        deliveries=service.deliveries(subscription_id, page=page_number),
        failing=service.failing_in_a_row(subscription_id),
        disable_after=current_app.config["WEBHOOK_DISABLE_AFTER"],
        now=utcnow(),
        history=history_of("webhook", subscription_id),
        new_secret=new_secret,
        action_form=ActionForm(),
    )


@bp.get("/<int:subscription_id>")
@role_required()
def show_webhook(subscription_id: int):
    return _page(subscription_id)


def _act(subscription_id: int, change, message: str):
    try:
        change()
    except Rejected as rejected:
        if rejected.problems[0].code == "webhook_not_found":
            abort(404)
        flash(rejected.problems[0].message, "error")
    else:
        flash(message, "success")
    return redirect(url_for("webhooks.show_webhook", subscription_id=subscription_id), code=303)


@bp.post("/<int:subscription_id>/enable")
@role_required()
def enable_webhook(subscription_id: int):
    return _act(
        subscription_id,
        lambda: service.set_enabled(subscription_id, True, signed_in_actor()),
        "Enabled: events are delivered again, starting with those that waited.",
    )


@bp.post("/<int:subscription_id>/disable")
@role_required()
def disable_webhook(subscription_id: int):
    return _act(
        subscription_id,
        lambda: service.set_enabled(subscription_id, False, signed_in_actor()),
        "Disabled: new events are not sent to it.",
    )


@bp.post("/<int:subscription_id>/ping")
@role_required()
def ping_webhook(subscription_id: int):
    return _act(
        subscription_id,
        lambda: service.send_ping(subscription_id, signed_in_actor()),
        "Test ping queued; its result appears in the delivery log below.",
    )


@bp.post("/<int:subscription_id>/messages/<int:message_id>/redeliver")
@role_required()
def redeliver_message(subscription_id: int, message_id: int):
    return _act(
        subscription_id,
        lambda: service.redeliver(subscription_id, message_id, signed_in_actor()),
        "Queued for redelivery, with the same webhook-id.",
    )


@bp.post("/<int:subscription_id>/messages/<int:message_id>/retry")
@role_required()
def retry_message(subscription_id: int, message_id: int):
    return _act(
        subscription_id,
        lambda: service.retry_now(subscription_id, message_id, signed_in_actor()),
        "Trying again now, with the same webhook-id: the result appears below.",
    )


@bp.post("/<int:subscription_id>/rotate")
@role_required()
def rotate_secret(subscription_id: int):
    try:
        rotated = service.rotate_secret(subscription_id, signed_in_actor())
    except Rejected:
        abort(404)
    return _page(subscription_id, new_secret=rotated.secret)


@bp.post("/<int:subscription_id>/delete")
@role_required()
def delete_webhook(subscription_id: int):
    try:
        service.delete_subscription(subscription_id, signed_in_actor())
    except Rejected:
        abort(404)
    flash("Webhook deleted: it receives nothing more.", "info")
    return redirect(url_for("webhooks.list_webhooks"), code=303)

"""Stock pages: the stock list, receiving, adjusting and counting, devices, the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_login import current_user
from sqlalchemy import select
from wtforms import SelectChoice

from app.auth.access import role_required, signed_in_actor
from app.catalog.models import Item
from app.extensions import db
from app.formats import plural_name
from app.forms import (
    ActionForm,
    chosen_id,
    form_page,
    keep_sent_choice,
    put_problems_on_fields,
)
from app.history.changes import history_of
from app.inventory import adjustments, bins, finder, queries, receipts
from app.inventory import devices as stock_devices
from app.inventory import locations as stock_locations
from app.inventory.devices_csv import devices_csv
from app.inventory.forms import (
    AdjustmentForm,
    CountedReceiptForm,
    DeviceReceiptForm,
    InspectionForm,
    LocationForm,
)
from app.inventory.ledger_csv import ledger_csv
from app.inventory.models import MAX_BIN_LENGTH, MOVEMENT_KINDS, MOVEMENT_LABELS, StockLocation
from app.validation import MAX_ACTION_LENGTH, Rejected, parse_int

bp = Blueprint("inventory", __name__, url_prefix="/stock")

SEES_STOCK = ("coordinator", "fulfillment")
MOVES_STOCK = ("fulfillment",)
MANAGES_LOCATIONS = ()  # admins only
MAX_MANIFEST_BYTES = 256 * 1024
# Sent by the device finder's Find button (Enter in the box presses it too).
FIND_PRESSED = "find"
# The receipt's field paths (app.inventory.receipts) on the receiving forms' fields.
COUNTED_FIELDS = {
    "location.id": "location_id",
    "lines[0].item.id": "item_id",
    "lines[0].count": "count",
}
DEVICES_FIELDS = {
    "location.id": "location_id",
    "devices[0].item.id": "item_id",
    "devices[0].deviceIdentifiers": "manifest",
}


def _location_choices() -> list[SelectChoice]:
    return [SelectChoice(str(loc.id), loc.name) for loc in stock_locations.list_locations()]


def _item_choices(devices: bool | None, orderable_first: bool = False) -> list[SelectChoice]:
    """Items to choose from, by name; ``orderable_first``: those on offer to order first
    (what stock is received and counted for), the others after, marked so."""
    order = (Item.orderable.desc(), Item.name) if orderable_first else (Item.name,)
    query = select(Item).order_by(*order)
    if devices is True:
        query = query.where(Item.device_identifier_type.is_not(None))
    elif devices is False:
        query = query.where(Item.device_identifier_type.is_(None))
    return [
        SelectChoice(
            str(i.id),
            f"{i.name} ({i.sku})"
            + ("" if i.orderable or not orderable_first else ", not orderable"),
        )
        for i in db.session.scalars(query)
    ]


def _arg_id(name: str) -> int | None:
    return parse_int(request.args.get(name))


@bp.get("/")
@role_required(*SEES_STOCK)
def stock():
    return _stock_page(_arg_id("location"), _arg_id("after"))


def _stock_page(location_id: int | None, after: int | None, bin_refused=None, status=200):
    """The stock list (with each item's bin at its location) and the shelf of devices.
    ``bin_refused``: the row whose bin was refused, as (location, item, typed, message)."""
    rows = queries.stock_rows(
        location_id=location_id, after=after, limit=queries.STOCK_PAGE_SIZE + 1
    )
    more = len(rows) > queries.STOCK_PAGE_SIZE
    rows = rows[: queries.STOCK_PAGE_SIZE]
    return render_template(
        "inventory/stock.html",
        rows=rows,
        locations=stock_locations.list_locations(),
        location_id=location_id,
        after=after,
        next_after=rows[-1].balance_id if more else None,
        sets_bins=current_user.has_role(*MOVES_STOCK),
        bin_refused=bin_refused,
        max_bin_length=MAX_BIN_LENGTH,
        **_shelf(location_id or _default_location_id()),
    ), status


@bp.post("/bins")
@role_required(*MOVES_STOCK)
def set_bin():
    """One row's bin, from the stock page. Refused: the page again, what was typed kept
    at the row's field with the message; saved: back to the same page, at that row."""
    if not ActionForm().validate_on_submit():
        abort(400)
    location_id, item_id = _form_id("location"), _form_id("item")
    shown, after = _form_id("shown_location"), _form_id("after")
    typed = request.form.get("bin", "")[: MAX_BIN_LENGTH * 4]
    if location_id is None or item_id is None:
        abort(404)
    try:
        saved = bins.set_bin(location_id, item_id, typed, signed_in_actor())
    except Rejected as rejected:
        if rejected.field != "bin":
            abort(404)  # no such location or item: not a row of the page
        message = " ".join(p.message for p in rejected.problems)
        return _stock_page(shown, after, (location_id, item_id, typed, message), 422)
    item = db.session.get(Item, item_id)
    where = stock_locations.location_name(location_id)
    flash(
        f"{item.name} at {where}: bin {saved}." if saved else f"{item.name} at {where}: no bin.",
        "success",
    )
    target = url_for(
        "inventory.stock", location=shown, after=after, _anchor=f"bin-{location_id}-{item_id}"
    )
    return redirect(target, code=303)


def _form_id(name: str) -> int | None:
    return parse_int(request.form.get(name))


def _shelf(location_id: int) -> dict:
    """Every item on the shelf at the location with its count and its newest devices (the
    rest one link away, in the device finder)."""
    items = finder.shelf_items(location_id)
    return {
        "shelf_location_id": location_id,
        "shelf_items": items,
        "shelf": finder.shelf_devices(location_id, [i.item_id for i in items], finder.STOCK_SHELF),
    }


@bp.app_template_global()
def shelf_for_packing(location_id: int | None, item_ids) -> dict:
    """For the packing station (orders' template, a floor above, asks through this): the
    newest devices on the shelf at the order's location for each item still waiting."""
    return finder.shelf_devices(location_id, item_ids, finder.PACKING_SHELF)


def _default_location_id() -> int:
    location = stock_locations.default_location()
    return location.id if location else 0


@bp.route("/receive", methods=["GET", "POST"])
@role_required(*MOVES_STOCK)
def receive():
    counted = CountedReceiptForm(prefix="counted")
    devices = DeviceReceiptForm(prefix="devices")
    for form in (counted, devices):
        form.location_id.choices = _location_choices()
    counted.item_id.choices = _item_choices(devices=False, orderable_first=True)
    devices.item_id.choices = _item_choices(devices=True, orderable_first=True)
    focus = _remember_last_receipt(counted, devices) if request.method == "GET" else None
    problems: list[str] = []
    preview = None
    status = 200
    action = request.form.get("action", "")[:MAX_ACTION_LENGTH]
    if request.method == "POST":
        status = 422
        if action == "counted":
            draft = receipts.ReceiptDraft(
                location_ref=chosen_id(counted.location_id.data),
                reference=counted.reference.data,
                lines=[
                    receipts.ReceiptLine(
                        chosen_id(counted.item_id.data), parse_int(counted.count.data) or 0
                    )
                ],
            )
            try:
                receipt = receipts.receive(draft, signed_in_actor())
            except Rejected as rejected:
                problems = put_problems_on_fields(counted, rejected.problems, COUNTED_FIELDS)
            else:
                item = db.session.get(Item, int(counted.item_id.data))
                count = parse_int(counted.count.data) or 0
                flash(f"Received {_counted(count, item, receipt)}.", "success")
                return _receive_again(receipt, item, "counted")
        elif action in ("preview", "devices"):
            manifest = _manifest_text(devices)
            try:
                item, preview = receipts.preview_manifest(parse_int(devices.item_id.data), manifest)
            except Rejected as rejected:
                problems = put_problems_on_fields(devices, rejected.problems, DEVICES_FIELDS)
            else:
                devices.manifest.data = manifest
                if action == "devices":
                    receipt = _receive_devices(devices, item, preview, problems)
                    if receipt is not None:
                        values = [e.value for e in preview]
                        flash(f"Received {_counted(len(values), item, receipt, values)}", "success")
                        return _receive_again(receipt, item, "devices")
                else:
                    status = 200
        for select in (counted.location_id, counted.item_id, devices.location_id, devices.item_id):
            keep_sent_choice(select)
    return (
        render_template(
            "inventory/receive.html",
            counted=counted,
            devices=devices,
            form=devices,
            problems=problems,
            preview=preview,
            focus=focus,
        ),
        status,
    )


# Identifiers a receipt's message names; the rest are counted.
NAMED_IN_MESSAGE = 5


def _counted(count: int, item: Item, receipt, values: list[str] | None = None) -> str:
    """What a receipt brought, in words: "3 Blood pressure monitors at North depot: …"."""
    text = (
        f"{plural_name(count, item.name)} at {stock_locations.location_name(receipt.location_id)}"
    )
    if not values:
        return text
    named = ", ".join(values[:NAMED_IN_MESSAGE])
    more = len(values) - NAMED_IN_MESSAGE
    return f"{text}: {named}" + (f" and {more} more." if more > 0 else ".")


def _receive_again(receipt, item: Item, form: str):
    """Back to the page for the next receipt, with the same location and item chosen."""
    return redirect(
        url_for("inventory.receive", location=receipt.location_id, item=item.id, form=form),
        code=303,
    )


def _remember_last_receipt(counted: CountedReceiptForm, devices: DeviceReceiptForm) -> str | None:
    """The location and item of the last receipt (as ``_receive_again`` names them) chosen
    again; answers the field to go on with (the count, or the identifiers box)."""
    location, item = request.args.get("location", "")[:12], request.args.get("item", "")[:12]
    for form in (counted, devices):
        if any(choice.value == location for choice in form.location_id.choices):
            form.location_id.data = location
        if any(choice.value == item for choice in form.item_id.choices):
            form.item_id.data = item
    which = request.args.get("form")
    return {"counted": "counted-count", "devices": "devices-manifest"}.get(which)


def _manifest_text(form: DeviceReceiptForm) -> str:
    text = form.manifest.data or ""
    upload = request.files.get(form.manifest_file.name)
    if upload and upload.filename:
        raw = upload.read(MAX_MANIFEST_BYTES + 1)
        if len(raw) > MAX_MANIFEST_BYTES:
            form.manifest_file.errors = ["The file is too large."]
            return text
        try:
            text = (text + "\n" + raw.decode("utf-8-sig")).strip()
        except UnicodeDecodeError:
            form.manifest_file.errors = ["The file is not UTF-8 text."]
    return text


def _receive_devices(form, item, preview, problems: list[str]):
    """The receipt of the previewed devices, or None (``problems`` then says why)."""
    draft = receipts.ReceiptDraft(
        location_ref=chosen_id(form.location_id.data),
        reference=form.reference.data,
        devices=[
            receipts.ReceiptDevices(
                item.id, [(item.device_identifier_type, e.value) for e in preview]
            )
        ],
    )
    try:
        receipt = receipts.receive(draft, signed_in_actor())
    except Rejected as rejected:
        if any(e.problem for e in preview):
            # The preview beside the form says what is wrong with each identifier.
            problems.append(
                "Some identifiers are flagged below: correct or remove them, then receive again."
            )
        else:
            problems.extend(put_problems_on_fields(form, rejected.problems, DEVICES_FIELDS))
        return None
    return receipt


@bp.route("/adjust", methods=["GET", "POST"])
@role_required(*MOVES_STOCK)
def adjust():
    form = AdjustmentForm()
    form.location_id.choices = _location_choices()
    form.item_id.choices = _item_choices(devices=False, orderable_first=True)
    if request.method == "GET":
        form.location_id.data = request.args.get("location", "")[:12] or None
        form.item_id.data = request.args.get("item", "")[:12] or None
    problems: list[str] = []
    showing = request.form.get("action") == "show"  # without JavaScript: the current stock
    if request.method == "POST" and not showing:
        raw = (form.quantity.data or "").strip().replace("−", "-")
        quantity = (
            -parse_int(raw[1:])
            if raw.startswith("-") and parse_int(raw[1:])
            else (parse_int(raw.lstrip("+")))
        )
        try:
            adjustments.adjust(
                chosen_id(form.location_id.data),
                chosen_id(form.item_id.data),
                quantity,
                form.reason.data,
                signed_in_actor(),
                counted=form.kind.data == "count",
            )
        except Rejected as rejected:
            problems = put_problems_on_fields(
                form, rejected.problems, {"location.id": "location_id", "item.id": "item_id"}
            )
        else:
            flash("Stock updated.", "success")
            return redirect(url_for("inventory.stock"), code=303)
        keep_sent_choice(form.location_id)
        keep_sent_choice(form.item_id)
    status = 422 if request.method == "POST" and not showing else 200
    return render_template(
        "inventory/adjust.html", form=form, problems=problems, current=_current_stock(form)
    ), status


def _current_stock(form: AdjustmentForm) -> queries.Balance | None:
    """The chosen item's balance at the chosen location (the first of each when none is)."""

    def chosen(select) -> int | None:
        offered = [SelectChoice.from_input(choice).value for choice in select.choices]
        value = select.data if select.data in offered else next(iter(offered), None)
        return parse_int(value or "")

    return queries.balance_of(chosen(form.location_id), chosen(form.item_id))


@bp.get("/adjust/current")
@role_required(*MOVES_STOCK)
def current_stock():
    """htmx, when the location or item changes: what is there now, before the change."""
    current = queries.balance_of(_arg_id("location_id"), _arg_id("item_id"))
    return render_template("inventory/_current_stock.html", current=current)


@bp.get("/locations")
@role_required(*SEES_STOCK)
def locations():
    return render_template(
        "inventory/locations.html",
        locations=stock_locations.all_locations(),
        totals=stock_locations.location_totals(),
        form=ActionForm(),
    )


@bp.route("/locations/new", methods=["GET", "POST"])
@role_required(*MANAGES_LOCATIONS)
def new_location():
    form = LocationForm()
    return form_page(
        form,
        "inventory/location_form.html",
        save=lambda: stock_locations.create_location(form.name.data, signed_in_actor()),
        done=lambda location: (f"{location.name} added.", url_for("inventory.locations")),
        location=None,
        history=[],
    )


@bp.route("/locations/<int:location_id>", methods=["GET", "POST"])
@role_required(*MANAGES_LOCATIONS)
def edit_location(location_id: int):
    location = db.session.get(StockLocation, location_id) or abort(404)
    form = LocationForm(obj=location)
    return form_page(
        form,
        "inventory/location_form.html",
        save=lambda: stock_locations.rename_location(
            location_id, form.name.data, signed_in_actor()
        ),
        done=lambda saved: (f"Renamed to {saved.name}.", url_for("inventory.locations")),
        location=location,
        history=history_of(stock_locations.LOCATION_RECORD, location_id),
    )


def _location_action(change, done: str, location_id: int):
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        location = change()
    except Rejected as rejected:
        flash(" ".join(p.message for p in rejected.problems), "error")
    else:
        flash(done.format(name=location.name), "success")
    return redirect(url_for("inventory.locations", _anchor=f"location-{location_id}"), code=303)


@bp.post("/locations/<int:location_id>/default")
@role_required(*MANAGES_LOCATIONS)
def make_default_location(location_id: int):
    return _location_action(
        lambda: stock_locations.make_default_location(location_id, signed_in_actor()),
        "{name} is now the default: orders that name no location are fulfilled from it.",
        location_id,
    )


@bp.post("/locations/<int:location_id>/deactivate")
@role_required(*MANAGES_LOCATIONS)
def deactivate_location(location_id: int):
    return _location_action(
        lambda: stock_locations.set_location_active(location_id, False, signed_in_actor()),
        "{name} is inactive: it takes no new orders and receives nothing.",
        location_id,
    )


@bp.post("/locations/<int:location_id>/activate")
@role_required(*MANAGES_LOCATIONS)
def activate_location(location_id: int):
    return _location_action(
        lambda: stock_locations.set_location_active(location_id, True, signed_in_actor()),
        "{name} is active again.",
        location_id,
    )


@bp.get("/devices/")
@role_required(*SEES_STOCK)
def find_devices():
    """The device finder. htmx (typing in the search box) gets the results part alone."""
    query = finder.DeviceQuery.from_args(request.args)
    page = finder.device_page(query)
    # One device whose identifier is entirely what was typed (a scan, or Find pressed): its
    # own page. Typing (htmx, without the Find button) never jumps away.
    asked = not request.htmx or request.args.get(FIND_PRESSED)
    if asked and _one_whole_match(query, page):
        target = url_for("inventory.show_device", device_id=page.rows[0].id)
        if request.htmx:
            return Response(status=200, headers={"HX-Redirect": target})
        return redirect(target, code=303)
    results_only = request.htmx and not request.htmx.history_restore_request
    context = {
        "query": query,
        "page": page,
        "count": finder.count_devices(query),
        "count_cap": finder.COUNT_CAP,
        "status_label": stock_devices.device_status_label,
        "statuses": stock_devices.DEVICE_STATUSES,
    }
    if results_only:
        return render_template("inventory/_device_results.html", **context)
    return render_template(
        "inventory/devices.html",
        locations=stock_locations.list_locations(),
        items=_item_choices(devices=True),
        find_pressed=FIND_PRESSED,
        **context,
    )


def _one_whole_match(query: finder.DeviceQuery, page: finder.DevicePage) -> bool:
    searched_alone = query.key and not (
        query.item_id or query.status or query.location_id or query.order_id
    )
    first_page = query.before is None and query.after is None
    return bool(
        searched_alone
        and first_page
        and len(page.rows) == 1
        and page.rows[0].matches_whole(query.key)
    )


@bp.get("/devices.csv")
@role_required(*SEES_STOCK)
def export_devices():
    query = finder.DeviceQuery.from_args(request.args)
    response = Response(stream_with_context(devices_csv(query)), mimetype="text/csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="devices-{stamp}.csv"'
    return response


@bp.get("/devices/<int:device_id>")
@role_required(*SEES_STOCK)
def show_device(device_id: int):
    device = queries.get_device(device_id)
    if device is None:
        abort(404)
    return render_template(
        "inventory/device.html",
        device=device,
        history=queries.device_history(device.id),
        locations=queries.device_locations([device]),
        status_label=stock_devices.device_status_label,
        awaits_inspection=stock_devices.awaits_inspection(device),
        form=InspectionForm(),
    )


@bp.post("/devices/<int:device_id>/inspect")
@role_required(*MOVES_STOCK)
def inspect_device(device_id: int):
    form = InspectionForm()
    if not form.validate_on_submit():
        abort(400)
    passed = request.form.get("outcome") == "pass"
    try:
        stock_devices.inspect_device(device_id, passed, form.note.data, signed_in_actor())
    except Rejected as rejected:
        flash(" ".join(p.message for p in rejected.problems), "error")
    else:
        flash("Back in stock." if passed else "Retired.", "success")
    return redirect(url_for("inventory.show_device", device_id=device_id), code=303)


def _ledger_filter() -> queries.LedgerFilter:
    kind = request.args.get("kind") or None
    return queries.LedgerFilter(
        location_id=_arg_id("location"),
        item_id=_arg_id("item"),
        kind=kind if kind in MOVEMENT_KINDS else None,
        order_id=_arg_id("order"),
        before=_arg_id("before"),
    )


@bp.get("/ledger")
@role_required(*SEES_STOCK)
def ledger():
    filters = _ledger_filter()
    rows = queries.ledger_rows(filters, limit=queries.LEDGER_PAGE_SIZE + 1)
    more = len(rows) > queries.LEDGER_PAGE_SIZE
    rows = rows[: queries.LEDGER_PAGE_SIZE]
    return render_template(
        "inventory/ledger.html",
        rows=rows,
        filters=filters,
        next_before=rows[-1].id if more else None,
        locations=stock_locations.list_locations(),
        items=_item_choices(devices=None),
        kinds=MOVEMENT_LABELS,
    )


@bp.get("/ledger.csv")
@role_required(*SEES_STOCK)
def export_ledger():
    filters = _ledger_filter()
    response = Response(stream_with_context(ledger_csv(filters)), mimetype="text/csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="stock-ledger-{stamp}.csv"'
    return response

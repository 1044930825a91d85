"""Items and kits in the browser. A kit's contents are rows added and removed on the
server (as htmx fragments, or plain posts without JavaScript), like order lines."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app.auth.access import role_required, signed_in_actor
from app.catalog import service
from app.catalog.forms import ItemForm, KitForm
from app.catalog.models import Item, Kit, KitItem
from app.extensions import db
from app.forms import (
    ActionForm,
    chosen_id,
    form_page,
    keep_sent_choice,
    put_problems_on_fields,
    record_or_404,
)
from app.history.changes import history_of
from app.validation import Rejected, parse_int

bp = Blueprint("catalog", __name__)

VIEWERS = ("coordinator", "fulfillment")


# --- Items -------------------------------------------------------------------------------


@bp.get("/items/")
@role_required(*VIEWERS)
def list_items():
    items = db.session.scalars(select(Item).order_by(Item.orderable.desc(), Item.name)).all()
    return render_template("catalog/items.html", items=items)


@bp.get("/items/<int:item_id>")
@role_required(*VIEWERS)
def show_item(item_id: int):
    return render_template(
        "catalog/item.html", item=record_or_404(Item, item_id), history=history_of("item", item_id)
    )


def _reorder_point(text: str | None):
    """0 when left empty; otherwise the number typed, or the text for the service to refuse."""
    text = (text or "").strip()
    if not text:
        return 0
    number = parse_int(text)
    return text if number is None else number


def _item_draft(form: ItemForm) -> service.ItemDraft:
    return service.ItemDraft(
        name=form.name.data,
        sku=form.sku.data,
        model=form.model.data,
        manufacturer=form.manufacturer.data,
        orderable=bool(form.orderable.data),
        device_identifier_type=form.device_identifier_type.data or None,
        serial_pattern=form.serial_pattern.data or None,
        size=form.size.data or None,
        reorder_point=_reorder_point(form.reorder_point.data),
        accept_unreceived_devices=bool(form.accept_unreceived_devices.data),
    )


@bp.route("/items/new", methods=["GET", "POST"])
@role_required()
def new_item():
    return _save_item(None)


@bp.route("/items/<int:item_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_item(item_id: int):
    return _save_item(record_or_404(Item, item_id))


def _save_item(item: Item | None):
    if item is not None and request.method == "GET":
        form = ItemForm(
            data={
                "name": item.name,
                "sku": item.sku,
                "model": item.model,
                "manufacturer": item.manufacturer.name if item.manufacturer else "",
                "device_identifier_type": item.device_identifier_type or "",
                "serial_pattern": item.serial_pattern or "",
                "size": item.size or "",
                "orderable": item.orderable,
                "reorder_point": str(item.reorder_point),
                "accept_unreceived_devices": item.accept_unreceived_devices,
            }
        )
    else:
        form = ItemForm()

    def save():
        if item is None:
            return service.create_item(_item_draft(form), signed_in_actor())
        return service.update_item(item.id, _item_draft(form), signed_in_actor())

    return form_page(
        form,
        "catalog/item_form.html",
        save=save,
        done=lambda i: ("Item saved.", url_for("catalog.show_item", item_id=i.id)),
        item=item,
    )


# --- Kits --------------------------------------------------------------------------------


@bp.get("/kits/")
@role_required(*VIEWERS)
def list_kits():
    kits = db.session.scalars(
        select(Kit)
        .options(selectinload(Kit.kit_items).joinedload(KitItem.item))
        .order_by(Kit.archived, Kit.name)
    ).all()
    return render_template("catalog/kits.html", kits=kits)


@bp.get("/kits/<int:kit_id>")
@role_required(*VIEWERS)
def show_kit(kit_id: int):
    kit = db.session.scalar(
        select(Kit)
        .where(Kit.id == kit_id)
        .options(selectinload(Kit.kit_items).joinedload(KitItem.item))
    )
    if kit is None:
        abort(404)
    return render_template(
        "catalog/kit.html",
        kit=kit,
        history=history_of("kit", kit_id),
        ordered=service.kit_is_ordered(kit_id),
        action_form=ActionForm(),
    )


def _item_choices() -> list[tuple[str, str]]:
    items = db.session.scalars(
        select(Item).options(joinedload(Item.manufacturer)).order_by(Item.name)
    ).all()
    return [("", "Choose an item…")] + [
        (str(i.id), f"{i.name} ({i.sku})" + ("" if i.orderable else " — not orderable"))
        for i in items
    ]


def _kit_form(kit: Kit | None, rows: list[dict] | None = None) -> KitForm:
    """A fresh form from plain rows, so that row numbers are always regenerated."""
    if rows is None:
        if kit is not None:
            rows = [{"item_id": str(ki.item_id), "count": str(ki.count)} for ki in kit.kit_items]
        else:
            rows = [{"item_id": "", "count": "1"}]
    form = KitForm(
        formdata=None,
        data={"name": kit.name if kit and request.method == "GET" else None, "lines": rows},
    )
    if request.method == "POST":
        form.name.data = request.form.get("name", "")
    choices = _item_choices()
    for line in form.lines:
        line.item_id.choices = choices
    return form


def _submitted_rows() -> list[dict]:
    submitted = KitForm()
    return [
        {"item_id": line.item_id.data or "", "count": (line.count.data or "")[:6]}
        for line in submitted.lines
    ]


def _apply_row_action(rows: list[dict], action: str) -> str | None:
    """Adds or removes a row; answers the id of the field to focus next."""
    kind, _, arg = action.partition(":")
    if kind == "add-row" and len(rows) < 100:
        rows.append({"item_id": "", "count": "1"})
        return f"lines-{len(rows) - 1}-item_id"
    if kind == "remove-row" and (index := parse_int(arg)) is not None and index < len(rows):
        del rows[index]
        return "add-row"
    return None


def _kit_draft(form: KitForm) -> service.KitDraft:
    lines = []
    for line in form.lines:
        count = (line.count.data or "").strip()
        lines.append(
            service.KitLineDraft(
                item_id=chosen_id(line.item_id.data),
                count=parse_int(count, 3) if parse_int(count, 3) is not None else count,
            )
        )
    return service.KitDraft(name=form.name.data, lines=lines)


@bp.route("/kits/new", methods=["GET", "POST"])
@role_required()
def new_kit():
    return _save_kit(None)


@bp.route("/kits/<int:kit_id>/edit", methods=["GET", "POST"])
@role_required()
def edit_kit(kit_id: int):
    kit = db.session.scalar(
        select(Kit).where(Kit.id == kit_id).options(selectinload(Kit.kit_items))
    )
    if kit is None:
        abort(404)
    return _save_kit(kit)


def _save_kit(kit: Kit | None):
    if request.method == "GET":
        return render_template("catalog/kit_form.html", form=_kit_form(kit), kit=kit, problems=[])
    rows = _submitted_rows()
    action = request.form.get("action", "save")[:30]
    if action != "save":
        focus = _apply_row_action(rows, action)
        template = "catalog/_kit_rows.html" if request.htmx else "catalog/kit_form.html"
        return render_template(
            template, form=_kit_form(kit, rows), kit=kit, problems=[], focus=focus
        )
    form = _kit_form(kit, rows)
    try:
        if kit is None:
            kit = service.create_kit(_kit_draft(form), signed_in_actor())
        else:
            service.update_kit(kit.id, _kit_draft(form), signed_in_actor())
    except Rejected as rejected:
        problems = put_problems_on_fields(form, rejected.problems)
        problems = _row_problems(form, rejected.problems, problems)
        for line in form.lines:
            keep_sent_choice(line.item_id)
        return render_template("catalog/kit_form.html", form=form, kit=kit, problems=problems), 422
    flash("Kit saved.", "success")
    target = url_for("catalog.show_kit", kit_id=kit.id)
    if request.htmx:
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)


def _row_problems(form: KitForm, problems, unplaced: list[str]) -> list[str]:
    """Problems of one row (``kitItems[2].count``) go next to that row's field."""
    remaining = []
    for problem in problems:
        path = problem.field or ""
        if path.startswith("kitItems[") and "]." in path:
            index = int(path[len("kitItems[") : path.index("]")])
            attr = "count" if path.endswith(".count") else "item_id"
            if index < len(form.lines):
                target = form.lines[index][attr]
                target.errors = [*target.errors, problem.message]
                continue
        if problem.message in unplaced:
            remaining.append(problem.message)
    return remaining


@bp.post("/kits/<int:kit_id>/archive")
@role_required()
def archive_kit(kit_id: int):
    record_or_404(Kit, kit_id)
    service.set_kit_archived(kit_id, True, signed_in_actor())
    flash("Kit archived: it is no longer offered on new orders.", "info")
    return redirect(url_for("catalog.show_kit", kit_id=kit_id), code=303)


@bp.post("/kits/<int:kit_id>/restore")
@role_required()
def restore_kit(kit_id: int):
    record_or_404(Kit, kit_id)
    service.set_kit_archived(kit_id, False, signed_in_actor())
    flash("Kit restored.", "success")
    return redirect(url_for("catalog.show_kit", kit_id=kit_id), code=303)

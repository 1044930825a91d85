"""The dashboard page and its stock cover CSV."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import select

from app.auth.access import role_required
from app.dashboard import charts, figures
from app.extensions import db
from app.formats import csv_stream, spreadsheet_cell
from app.people import staff
from app.people.models import Site
from app.validation import parse_int

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

# Coordinators see the order figures of the sites they work for (app.people.staff);
# fulfilment (and admins) every site's, and the stock cover.
SEES_DASHBOARD = ("coordinator", "fulfillment")
SEES_EVERY_SITE = ("fulfillment",)
SEES_STOCK_COVER = ("fulfillment",)
COVER_HEADER = [
    "Location",
    "Item",
    "SKU",
    "Available",
    f"Used in the last {figures.DAYS} days",
    "Used per day",
    "Days of cover",
    "Reorder point",
    "At or below reorder point",
    "Suggested reorder",
]


def _target_days() -> int:
    return current_app.config.get("STOCK_COVER_DAYS", 30)


@bp.get("")
@role_required(*SEES_DASHBOARD)
def dashboard():
    site_id = parse_int(request.args.get("site", "")) or None
    if current_user.has_role(*SEES_EVERY_SITE):
        own, not_own = None, False
        sites = db.session.execute(select(Site.id, Site.name, Site.active).order_by(Site.name))
        scope = None if site_id is None else {site_id}
    else:
        own = sites = staff.sites_of(current_user.id)
        if not own:
            return render_template("dashboard/no_sites.html")
        not_own = site_id is not None and site_id not in {s.id for s in own}
        site_id = None if not_own else site_id
        scope = {s.id for s in own} if site_id is None else {site_id}
    now = datetime.now(UTC)
    found = figures.order_figures(now, scope)
    cover = figures.stock_cover(now, _target_days()) if _sees_cover() else None
    returns = figures.returns_out(now, scope)
    return render_template(
        "dashboard/index.html",
        figures=found,
        ages=figures.AGES,
        cover=cover,
        target_days=_target_days(),
        site_id=site_id,
        sites=list(sites),
        own_sites=own,
        not_own=not_own,
        daily_chart=charts.daily_chart(found.days),
        open_chart=charts.open_chart(found.open_rows, figures.AGES),
        weekly_chart=charts.weekly_chart(found.weeks),
        on_time_chart=charts.on_time_chart(found.weeks),
        returns=returns,
        return_ages=figures.RETURN_AGES,
        returns_chart=charts.returns_chart(returns, figures.RETURN_AGES),
        overdue_days=figures.overdue_days(),
        cover_chart=None
        if cover is None
        else charts.cover_chart(
            "Days of stock cover",
            f"Days each item's available units last at the last {figures.DAYS} days' rate "
            f"of use; the line marks the {_target_days()}-day target. The figures are in the "
            "table below.",
            cover,
            _target_days(),
        ),
        hours_text=figures.hours_text,
        on_time_text=figures.on_time_text,
    )


def _sees_cover() -> bool:
    return current_user.has_role(*SEES_STOCK_COVER)


@bp.get("/stock-cover.csv")
@role_required(*SEES_STOCK_COVER)
def stock_cover_csv():
    """The stock cover for purchasing: every item at every location, with what to reorder."""
    rows = figures.stock_cover(datetime.now(UTC), _target_days())
    batch = [
        [
            spreadsheet_cell(r.location),
            spreadsheet_cell(r.item),
            spreadsheet_cell(r.sku),
            r.available,
            r.used,
            f"{r.per_day:.2f}",
            "" if r.days_of_cover is None else f"{r.days_of_cover:.1f}",
            r.reorder_point,
            "yes" if r.low else "no",
            r.suggested_reorder,
        ]
        for r in rows
    ]
    response = Response(csv_stream(COVER_HEADER, [batch]), mimetype="text/csv")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response.headers["Content-Disposition"] = f'attachment; filename="stock-cover-{stamp}.csv"'
    return response

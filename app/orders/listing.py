"""The order list: filters, search, sorting and keyset pages that stay fast at a million orders."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from operator import itemgetter
from urllib.parse import urlencode

from sqlalchemy import (
    func,
    literal_column,
    null,
    select,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.orm import aliased

from app.db.types import id_among, is_postgresql
from app.extensions import db
from app.orders import carriers, owed, read_model, ship_by, status_counters, statuses
from app.orders.models import Order, OrderExternalId, TrackingNumber
from app.orders.views import ExternalIdView, OrderRow, TrackingNumberView
from app.people import staff
from app.people.models import Patient, Site
from app.people.search import patient_match
from app.people.views import PatientName, SiteName
from app.validation import MAX_SEARCH_LENGTH, normalised_identifier, parse_int

PAGE_SIZES = (25, 50, 100)
# Sent by the filter form's submit button (Enter in the search box presses it): the list was
# asked for on purpose, not as the person types, so an exact order number may open its order.
SUBMITTED = "apply"
SORTS = {
    "newest": "Newest first",
    "oldest": "Oldest first",
    "updated": "Recently changed",
    "shipby": "Ship-by, soonest first",
}
# The ship-by filter: orders that have not left and should have, or must leave today.
# The site filter's value for "the sites I work for".
MY_SITES = "mine"
DUE = {"late": "Late", "today": "Due today"}
# Any count of orders stops here: the list's tabs read "10,000+", the API's totals say they
# are capped. No one needs the exact number of every delivered order of the last ten years,
# and counting them all would cost more than the page itself.
COUNT_CAP = 10_000
# A search shows at most this many orders, the newest (a common surname can match more):
# twenty pages of the list. Each of them is looked up again for the page and its counts.
SEARCH_CAP = 500
# A patient-name search looks first among this many newest orders (see search_matches).
RECENT_WINDOW = 50_000
# A page cursor is an id, or a time and an id ("updated" order): never longer than this.
MAX_CURSOR_LENGTH = 60


def _date(text: str | None) -> date | None:
    try:
        value = date.fromisoformat(text) if text else None
    except ValueError:
        return None
    # A year far outside any order's would overflow the end-of-day arithmetic.
    return value if value is None or 1900 <= value.year <= 9000 else None


@dataclass
class OrderQuery:
    """What the list shows, as read from the URL (so that a reload shows the same)."""

    status: str = ""
    kind: str = ""
    site: int | None = None
    # "My sites": the orders of the sites the user works for (app.people.staff), their ids.
    mine: bool = False
    my_sites: tuple[int, ...] = ()
    # Orders fulfilled from this stock location.
    location: int | None = None
    date_from: date | None = None
    date_to: date | None = None
    shipping: str = ""
    due: str = ""
    # "overdue": only returns not back RETURN_OVERDUE_DAYS after their label was sent.
    returns: str = ""
    q: str = ""
    sort: str = "newest"
    size: int = 25
    after: str = ""
    before: str = ""
    problems: dict[str, str] = field(default_factory=dict)
    # Whose days "placed from/to" mean: the coordinator's "today" ends at their midnight.
    zone: tzinfo = UTC
    # The warehouse's today, for the ship-by filter (read once per request).
    today: date | None = None
    _matches: list[int] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_args(cls, args, zone: tzinfo = UTC, user_id: int | None = None) -> OrderQuery:
        """``user_id``: whose sites "My sites" (``site=mine``) means (read here, one
        statement, only when chosen)."""
        query = cls(zone=zone)
        problems = {}
        status = args.get("status", "")
        query.status = status if status in statuses.ALL else ""
        query.kind = args.get("kind", "") if args.get("kind") in ("patient", "site") else ""
        site = args.get("site", "")
        query.mine = site == MY_SITES
        if query.mine and user_id is not None:
            query.my_sites = tuple(staff.site_ids_of(user_id))
        query.site = parse_int(site)
        query.location = parse_int(args.get("location", ""))
        for name, attr in (("from", "date_from"), ("to", "date_to")):
            text = args.get(name, "")
            value = _date(text)
            if text and value is None:
                problems[name] = "Use a date like 2026-11-26."
            setattr(query, attr, value)
        if query.date_from and query.date_to and query.date_from > query.date_to:
            problems["to"] = "The end date is before the start date."
        query.shipping = (
            args.get("shipping", "") if args.get("shipping") in ("standard", "overnight") else ""
        )
        query.due = args.get("due", "") if args.get("due") in DUE else ""
        if query.due:
            query.today = ship_by.warehouse_today()
        query.returns = "overdue" if args.get("returns") == "overdue" else ""
        query.q = args.get("q", "").strip()[:MAX_SEARCH_LENGTH]
        query.sort = args.get("sort", "newest") if args.get("sort") in SORTS else "newest"
        size = args.get("size", "")
        query.size = parse_int(size) if parse_int(size) in PAGE_SIZES else PAGE_SIZES[0]
        query.after = args.get("after", "")[:MAX_CURSOR_LENGTH]
        query.before = args.get("before", "")[:MAX_CURSOR_LENGTH] if not query.after else ""
        query.problems = problems
        return query

    def url_args(self, **changes) -> dict:
        """The query string of this list, with some things changed (pages start over)."""
        changed = replace(self, **{"after": "", "before": "", **changes})
        args = {
            "status": changed.status,
            "kind": changed.kind,
            "site": MY_SITES if changed.mine else changed.site or "",
            "location": changed.location or "",
            "from": changed.date_from.isoformat() if changed.date_from else "",
            "to": changed.date_to.isoformat() if changed.date_to else "",
            "shipping": changed.shipping,
            "due": changed.due,
            "returns": changed.returns,
            "q": changed.q,
            "sort": changed.sort if changed.sort != "newest" else "",
            "size": changed.size if changed.size != PAGE_SIZES[0] else "",
            "after": changed.after,
            "before": changed.before,
        }
        return {k: v for k, v in args.items() if v not in ("", None)}

    def query_string(self, **changes) -> str:
        return urlencode(self.url_args(**changes))

    @property
    def filtered(self) -> bool:
        return any(
            [
                self.kind,
                self.site,
                self.mine,
                self.location,
                self.date_from,
                self.date_to,
                self.shipping,
                self.due,
                self.returns,
                self.q,
            ]
        )

    # --- SQL ------------------------------------------------------------------------------

    def _start_of(self, day: date) -> datetime:
        """The moment ``day`` begins in the user's zone, in UTC (as stored)."""
        return datetime.combine(day, time(), self.zone).astimezone(UTC)

    def conditions(self, with_status: bool = True) -> list:
        where = []
        if with_status and self.status:
            where.append(Order.current_status == self.status)
        if self.kind == "patient":
            where.append(Order.patient_id.is_not(None))
        elif self.kind == "site":
            where.append(Order.site_id.is_not(None))
        if self.site:
            where.append(Order.responsible_site_id == self.site)
        if self.mine:
            where.append(Order.responsible_site_id.in_(self.my_sites))
        if self.location:
            where.append(Order.fulfillment_location_id == self.location)
        # A bad date is left out and said so; the other one still applies.
        if self.date_from and "from" not in self.problems:
            where.append(Order.created_at >= self._start_of(self.date_from))
        if self.date_to and "to" not in self.problems:
            where.append(Order.created_at < self._start_of(self.date_to + timedelta(days=1)))
        if self.shipping:
            where.append(Order.shipping_option == self.shipping)
        if self.due and self.today is not None:
            # Among the orders that have not left: read from (status, ship_by, id).
            where.append(Order.current_status.in_(sorted(ship_by.WAITING)))
            late = self.due == "late"
            where.append(Order.ship_by < self.today if late else Order.ship_by == self.today)
        if self.returns == "overdue":
            where.append(owed.overdue_condition())
        if self.q:
            where.append(id_among(Order.id, is_postgresql(), self.matching_ids))
        return where

    @property
    def matching_ids(self) -> list[int]:
        """The search's matches, looked up once per request (see search_matches)."""
        if self._matches is None:
            self._matches = search_matches(self.q)
        return self._matches[:SEARCH_CAP]

    @property
    def search_capped(self) -> bool:
        return bool(self.q) and len(self._matches or []) > SEARCH_CAP


def search_matches(text: str) -> list[int]:
    """Ids of the orders whose id, external order id or tracking number is ``text``, or
    whose patient matches it by name, identifier or birth date: newest first, at most
    SEARCH_CAP + 1 (one more says there were more).

    Found first, in one query of indexed lookups, so that the list, its counts and its
    pages then start from these few ids: asked inside one big query, the planner may
    guess thousands of matches and walk every order instead. Each lookup keeps its own
    newest SEARCH_CAP + 1, so that a common surname (a hundred patients, thousands of
    orders) is cut down before the lookups are merged.
    """
    number = parse_int(text.lstrip("#"))
    # Looked up on their own first (MATERIALIZED): otherwise PostgreSQL walks the newest
    # orders and looks up each one's patient, twenty thousand of them for a common surname.
    patients = (
        select(Patient.id)
        .where(patient_match(text, names=number is None))
        .cte("matching_patients")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    by_patient = Order.patient_id.in_(select(patients.c.id))
    # A common surname's newest orders are found among the newest RECENT_WINDOW orders:
    # each such patient's few recent ones, not every order they ever had (25,000 at a
    # million orders). Only if that finds too few are the older ones asked for (a plan's
    # one-time filter: not read otherwise). Either way the newest SEARCH_CAP + 1 exactly.
    floor = select(func.coalesce(func.max(Order.id), 0) - RECENT_WINDOW).scalar_subquery()
    recent = (
        select(Order.id)
        .where(by_patient, Order.id > floor)
        .order_by(Order.id.desc())
        .limit(SEARCH_CAP + 1)
        .cte("recent_matches")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    enough = select(func.count()).select_from(recent).scalar_subquery() > SEARCH_CAP
    matches = [
        select(OrderExternalId.order_id.label("id")).where(
            OrderExternalId.value == normalised_identifier(text)
        ),
        select(recent.c.id),
        _newest(select(Order.id).where(~enough, by_patient, Order.id <= floor), Order.id),
    ]
    if number is not None:
        matches.append(select(Order.id).where(Order.id == number))
    tracking = carriers.normalise(text)
    if len(tracking) >= 8:
        matches.append(select(TrackingNumber.order_id).where(TrackingNumber.value == tracking))
    found = union(*matches).subquery()
    return list(db.session.scalars(_newest(select(found.c.id), found.c.id)))


def _newest(stmt, id_column):
    """The newest SEARCH_CAP + 1 rows of ``stmt``, as a select that a UNION may hold."""
    limited = stmt.order_by(id_column.desc()).limit(SEARCH_CAP + 1).subquery()
    return select(limited.c[0])


def _sort_key(order, sort: str) -> str:
    if sort == "updated":
        return f"{order.updated_at.astimezone(UTC).isoformat()}~{order.id}"
    if sort == "shipby":
        return f"{order.ship_by.isoformat()}~{order.id}"
    return str(order.id)


def _cursor(text: str, sort: str):
    """The keyset position a cursor names, or None if it is not one (then the list starts
    from its first page)."""
    if sort == "shipby":
        day, _, ident = text.partition("~")
        found = _date(day)
        return None if found is None or parse_int(ident) is None else (found, parse_int(ident))
    if sort == "updated":
        stamp, _, ident = text.partition("~")
        try:
            when = datetime.fromisoformat(stamp)
        except ValueError:
            return None
        if when.tzinfo is None or parse_int(ident) is None:
            return None
        try:
            return when.astimezone(UTC), parse_int(ident)
        except OverflowError:
            return None
    return parse_int(text)


# What a row of the list (and of its CSV) shows: the order's own columns, the recipient's and
# the responsible site's names, external ids and tracking numbers. Not the addresses, and the
# fulfillment location by its id only: every table joined costs PostgreSQL more to plan (nine
# tables took longer to plan than the page took to run).
ROW = OrderRow.__struct_fields__[:10]
ROW_PATIENT = PatientName.__struct_fields__
ROW_SITE = SiteName.__struct_fields__


@cache
def _row_parts(postgres: bool):
    """The statement of the rows (to filter, sort and cut), and of their lines; built once:
    a statement reused is compiled and keyed once."""
    order_site, responsible_site = aliased(Site), aliased(Site)
    columns = [
        *[getattr(Order, name).label(f"order_{name}") for name in ROW],
        *[getattr(Patient, name).label(f"patient_{name}") for name in ROW_PATIENT],
        *[getattr(order_site, name).label(f"site_{name}") for name in ROW_SITE],
        *[getattr(responsible_site, name).label(f"responsible_site_{name}") for name in ROW_SITE],
    ]
    rows = (
        select(*columns)
        .select_from(Order)
        .outerjoin(Patient, Patient.id == Order.patient_id)
        .outerjoin(order_site, order_site.id == Order.site_id)
        .outerjoin(responsible_site, responsible_site.id == Order.responsible_site_id)
    )
    # External ids and tracking numbers in one statement, each kind in the order it was added.
    lines = union_all(
        select(
            OrderExternalId.order_id,
            literal_column("0").label("kind"),
            OrderExternalId.id,
            null().cast(TrackingNumber.carrier.type).label("carrier"),
            OrderExternalId.value,
        ).where(id_among(OrderExternalId.order_id, postgres)),
        select(
            TrackingNumber.order_id,
            literal_column("1"),
            TrackingNumber.id,
            TrackingNumber.carrier,
            TrackingNumber.value,
        ).where(id_among(TrackingNumber.order_id, postgres)),
    )
    lines = lines.subquery()
    return rows, select(lines).order_by(lines.c.kind, lines.c.id)


def _list_rows(stmt) -> list[OrderRow]:
    """The orders ``stmt`` selects (with the row's columns), as ``OrderRow`` views, read by
    the columns' labels: two statements, however many orders."""
    connection = db.session.connection()
    own, patient, site, responsible = _row_picks()
    orders = []
    for values in connection.execute(stmt):
        who, to, responsible_site = patient(values), site(values), responsible(values)
        orders.append(
            OrderRow(
                *own(values),
                None if who[0] is None else PatientName(*who),
                None if to[0] is None else SiteName(*to),
                None if responsible_site[0] is None else SiteName(*responsible_site),
                [],
                [],
            )
        )
    if orders:
        by_id = {order.id: order for order in orders}
        for order_id, kind, _, carrier, value in connection.execute(
            _row_parts(is_postgresql())[1], {"ids": list(by_id)}
        ):
            order = by_id[order_id]
            if kind == 0:
                order.external_ids.append(ExternalIdView(value))
            else:
                order.tracking_numbers.append(TrackingNumberView(carrier, value))
    return orders


@cache
def _row_picks() -> tuple:
    """Where the order's, the patient's and the sites' columns are in the rows, by label."""
    rows = _row_parts(False)[0]
    keys = list(rows.selected_columns.keys())

    def pick(prefix: str, names) -> itemgetter:
        return itemgetter(*[keys.index(prefix + name) for name in names])

    return (
        pick("order_", ROW),
        pick("patient_", ROW_PATIENT),
        pick("site_", ROW_SITE),
        pick("responsible_site_", ROW_SITE),
    )


@dataclass
class OrderListPage:
    orders: list[OrderRow]
    next_cursor: str | None
    prev_cursor: str | None


# The sorts by a column and the id: each read from its index, (column, id).
_KEYSET = {"updated": (Order.updated_at, Order.id), "shipby": (Order.ship_by, Order.id)}


def list_page(query: OrderQuery) -> OrderListPage:
    """One page in keyset order: the cost is the same on page 1 and page 40,000."""
    if query.sort in _KEYSET:
        key = tuple_(*_KEYSET[query.sort])
        descending = query.sort == "updated"
    else:
        key = Order.id
        descending = query.sort == "newest"
    cursor = _cursor(query.before or query.after, query.sort)
    going_back = bool(query.before) and cursor is not None
    stmt = _row_parts(is_postgresql())[0].where(*query.conditions())
    if cursor is not None:
        forward_is_smaller = descending != going_back
        stmt = stmt.where(key < cursor if forward_is_smaller else key > cursor)
    order_by = _KEYSET.get(query.sort, (Order.id,))
    reverse = descending != going_back
    stmt = stmt.order_by(*[c.desc() if reverse else c.asc() for c in order_by])
    rows = _list_rows(stmt.limit(query.size + 1))
    more = len(rows) > query.size
    rows = rows[: query.size]
    if going_back:
        rows.reverse()
    has_next = more if not going_back else True
    has_prev = (cursor is not None) if not going_back else more
    return OrderListPage(
        orders=rows,
        next_cursor=_sort_key(rows[-1], query.sort) if rows and has_next else None,
        prev_cursor=_sort_key(rows[0], query.sort) if rows and has_prev else None,
    )


def status_counts(query: OrderQuery) -> dict[str, int]:
    """How many orders each tab holds under the other filters, in one statement.

    Filtered by site, shipping option, recipient kind and location only (or not at all), the
    counts are read from the status counters. A search, a date range or the ship-by filter
    (orders that have not left) selects a bounded set of orders, found through its own index
    and counted exactly in one pass.
    """
    if not (query.q or query.date_from or query.date_to or query.due or query.returns):
        counts = dict.fromkeys(statuses.ALL, 0) | status_counters.tab_counts(
            query.site,
            query.shipping,
            query.kind,
            query.location,
            query.my_sites if query.mine else None,
        )
        counts[""] = sum(counts.values())
        return counts
    where = query.conditions(with_status=False)
    grouped = db.session.execute(
        select(Order.current_status, func.count()).where(*where).group_by(Order.current_status)
    )
    counts = dict(grouped.all())
    counts[""] = sum(counts.values())
    return counts


# The API's list of orders: a filter of its query parameters, and numbered pages of whole
# orders (the total counted up to COUNT_CAP, as the list's tabs are).
@dataclass
class OrderFilter:
    status: str | None = None
    patient_id: int | None = None
    # Orders shipped to this site.
    site_id: int | None = None
    # Orders this site is responsible for: shipped to it or to its patients.
    responsible_site_id: int | None = None
    external_order_id: str | None = None

    def apply(self, query):
        if self.status:
            query = query.where(Order.current_status == self.status)
        if self.patient_id:
            query = query.where(Order.patient_id == self.patient_id)
        if self.site_id:
            query = query.where(Order.site_id == self.site_id)
        if self.responsible_site_id:
            query = query.where(Order.responsible_site_id == self.responsible_site_id)
        if self.external_order_id:
            query = query.where(
                Order.id.in_(
                    select(OrderExternalId.order_id).where(
                        OrderExternalId.value == normalised_identifier(self.external_order_id)
                    )
                )
            )
        return query


@dataclass
class PageOfOrders:
    # Views, read for showing (see read_model).
    orders: list
    page: int
    size: int
    total: int
    # More orders match than were counted: ``total`` is a lower bound.
    total_capped: bool = False

    @property
    def first(self) -> bool:
        return self.page == 1

    @property
    def last(self) -> bool:
        return not self.total_capped and self.page * self.size >= self.total


def page_of_orders(order_filter: OrderFilter, page: int, size: int) -> PageOfOrders:
    """Newest first, one page of whole orders, with the total that match.

    The total counts at most COUNT_CAP orders (or as many as this page reaches, if more):
    an exact count over a million orders would cost more than the page itself.
    """
    limit = max(COUNT_CAP, page * size) + 1
    counted = db.session.scalar(
        select(func.count()).select_from(
            order_filter.apply(select(Order.id)).limit(limit).subquery()
        )
    )
    total, capped = (limit - 1, True) if counted >= limit else (counted, False)
    order_ids = db.session.scalars(
        order_filter.apply(select(Order.id))
        .order_by(Order.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    ).all()
    return PageOfOrders(read_model.load(order_ids), page, size, total, capped)

"""The clinic sites a staff user works for: a coordinator's dashboard shows those sites'
figures (issue 25). Admins set them on the user's page; each change is in the user's
history. Working for a site is a view of its figures, not a permission: it does not limit
which orders or patients a coordinator may open."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, delete, insert, select

from app.auth.actor import Actor
from app.auth.models import User
from app.db.transactions import write_transaction
from app.extensions import db
from app.history.changes import record_change
from app.people.models import Site, UserSite
from app.validation import MAX_DB_ID, Checker, as_id, get_or_reject
from app.views import View


class WorkSite(View):
    """A site a user works for."""

    id: int
    name: str
    active: bool


# How much of a value sent is shown back in a message (an id is short).
MAX_CHOICE_SHOWN = 40


def site_ids_of(user_id: int) -> list[int]:
    """The ids of the user's sites: one statement. A filter takes them as values, not as a
    subquery: PostgreSQL then plans with each site's share of the orders (a subquery made it
    walk every order, newest first, looking for a small site's)."""
    return list(db.session.scalars(select(UserSite.site_id).where(UserSite.user_id == user_id)))


def site_choices(user_id: int):
    """Every site (id, name, active) by name, each with ``mine``: whether the user works for
    it. One statement, for a site filter that also offers "My sites"."""
    mine = and_(UserSite.site_id == Site.id, UserSite.user_id == user_id)
    return db.session.execute(
        select(Site.id, Site.name, Site.active, UserSite.user_id.is_not(None).label("mine"))
        .outerjoin(UserSite, mine)
        .order_by(Site.name)
    ).all()


def sites_of(user_id: int) -> list[WorkSite]:
    """The sites the user works for, by name: one statement."""
    return sites_of_users([user_id]).get(user_id, [])


def sites_of_users(user_ids) -> dict[int, list[WorkSite]]:
    """Each user's sites, by name (users without any are left out): one statement."""
    rows = db.session.execute(
        select(UserSite.user_id, Site.id, Site.name, Site.active)
        .join(Site, Site.id == UserSite.site_id)
        .where(UserSite.user_id.in_(list(user_ids)))
        .order_by(Site.name, Site.id)
    )
    found: dict[int, list[WorkSite]] = {}
    for user_id, *site in rows:
        found.setdefault(user_id, []).append(WorkSite(*site))
    return found


def check_site_ids(values: Any, check: Checker) -> list[int]:
    """The ids of the sites chosen, in order, each a site's id: anything else (text, a number
    no site has) is a problem on ``sites`` naming what was sent."""
    if values is None:
        return []
    if not isinstance(values, (list, tuple, set, frozenset)):
        check.add("invalid_sites", "Sites must be a list of site ids.", "sites")
        return []
    ids = [(value, as_id(value)) for value in values]
    wanted = {i for _, i in ids if i is not None and i <= MAX_DB_ID}
    known = set(db.session.scalars(select(Site.id).where(Site.id.in_(wanted)))) if wanted else set()
    unknown = list(dict.fromkeys(str(v)[:MAX_CHOICE_SHOWN] for v, i in ids if i not in known))
    if unknown:
        check.add(
            "unknown_site",
            f"No site has the id {', '.join(unknown)}: choose sites from the list.",
            "sites",
        )
        return []
    return sorted(known)


def set_sites(user_id: int, site_ids: Any, actor: Actor) -> list[WorkSite]:
    """The user works for these sites from now on, and for no others: answers them by name."""
    with write_transaction() as session:
        get_or_reject(User, user_id, "user")
        check = Checker()
        chosen = check_site_ids(site_ids, check)
        check.raise_if_any()
        before = sites_of(user_id)
        if {s.id for s in before} == set(chosen):
            return before
        session.execute(delete(UserSite).where(UserSite.user_id == user_id))
        if chosen:
            session.execute(insert(UserSite), [{"user_id": user_id, "site_id": i} for i in chosen])
        after = sites_of(user_id)
        record_change("user", user_id, "updated", actor, {"sites": [_named(before), _named(after)]})
    return after


def _named(sites: list[WorkSite]) -> str:
    return ", ".join(s.name for s in sites)

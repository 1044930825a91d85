"""Finding what can be put on an order by any word a coordinator remembers of it.

Every typed word must appear, case-insensitively, somewhere in the name, the SKU, the
model or the manufacturer: "omron cuff" finds "BP cuff, large" made by Omron. Only a
few options are answered (``OPTION_CAP``): a picker is for narrowing, not browsing.
"""

from __future__ import annotations

import re

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import selectinload

from app.catalog.models import Item, Kit, KitItem, Manufacturer
from app.extensions import db
from app.validation import MAX_SEARCH_LENGTH, like_escaped

OPTION_CAP = 10


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s,]+", (text or "")[:MAX_SEARCH_LENGTH].lower()) if w][:8]


def _contains(column, word: str):
    escaped = like_escaped(word)
    return func.lower(func.coalesce(column, "")).like(f"%{escaped}%", escape="\\")


def _ranked(query, entity_id, ranked_by, name):
    """Most ordered first (``ranked_by``: a subquery of ``id`` and ``times``, which orders, a
    floor above, make), then by name."""
    if ranked_by is None:
        return query.order_by(name, entity_id)
    return query.outerjoin(ranked_by, ranked_by.c.id == entity_id).order_by(
        func.coalesce(ranked_by.c.times, 0).desc(), name, entity_id
    )


def find_orderable_items(text: str, limit: int = OPTION_CAP, ranked_by=None) -> list[Item]:
    """Orderable items matching every word of ``text``: the most ordered first when
    ``ranked_by`` says how often each was ordered, then by name."""
    words = _words(text)
    if not words:
        return []
    query = (
        select(Item)
        .outerjoin(Manufacturer, Item.manufacturer_id == Manufacturer.id)
        .where(Item.orderable)
        .where(
            and_(
                *(
                    or_(
                        _contains(Item.name, w),
                        _contains(Item.sku, w),
                        _contains(Item.model, w),
                        _contains(Manufacturer.name, w),
                    )
                    for w in words
                )
            )
        )
    )
    query = _ranked(query, Item.id, ranked_by, Item.name).limit(limit)
    return list(db.session.scalars(query).unique())


def find_orderable_kits(text: str, limit: int = OPTION_CAP, ranked_by=None) -> list[Kit]:
    """Kits not archived matching every word of ``text`` in their name, or the SKU,
    model or manufacturer of something they hold (ranked as items are)."""
    words = _words(text)
    if not words:
        return []
    held = (
        select(KitItem.kit_id)
        .join(Item, KitItem.item_id == Item.id)
        .outerjoin(Manufacturer, Item.manufacturer_id == Manufacturer.id)
    )

    def matches(word: str):
        holds = held.where(
            or_(
                _contains(Item.sku, word),
                _contains(Item.model, word),
                _contains(Manufacturer.name, word),
            )
        )
        return or_(_contains(Kit.name, word), Kit.id.in_(holds))

    query = (
        select(Kit)
        .where(Kit.archived.is_(False))
        .where(and_(*(matches(w) for w in words)))
        .options(selectinload(Kit.kit_items).joinedload(KitItem.item))
    )
    query = _ranked(query, Kit.id, ranked_by, Kit.name).limit(limit)
    return list(db.session.scalars(query))


def item_label(item: Item) -> str:
    """What a picked item reads as in its box, and what the box is matched back by."""
    return f"{item.name} ({item.sku})"


_LABEL = re.compile(r"^(?P<name>.*)\((?P<sku>[^()]+)\)\s*$")


def orderable_items_named(texts: list[str]) -> dict[str, Item]:
    """Orderable items each text names exactly (name, SKU, or "name (SKU)"), by lowercased
    text; one query however many texts."""
    keys = {t.strip().lower() for t in texts if t and t.strip()}
    if not keys:
        return {}
    skus = set(keys)
    for key in keys:
        label = _LABEL.match(key)
        if label:
            skus.add(label.group("sku").strip())
    rows = db.session.scalars(
        select(Item).where(
            Item.orderable,
            or_(func.lower(Item.name).in_(keys), func.lower(Item.sku).in_(skus)),
        )
    ).all()
    found: dict[str, Item] = {}
    for item in sorted(rows, key=lambda i: i.id):
        for key in (item.name.lower(), item.sku.lower(), item_label(item).lower()):
            if key in keys:
                found.setdefault(key, item)
    return found


def orderable_kits_named(texts: list[str]) -> dict[str, Kit]:
    """Kits not archived each text names exactly, by lowercased text; one query (and one
    for what they hold)."""
    keys = {t.strip().lower() for t in texts if t and t.strip()}
    if not keys:
        return {}
    rows = db.session.scalars(
        select(Kit)
        .where(Kit.archived.is_(False), func.lower(Kit.name).in_(keys))
        .options(selectinload(Kit.kit_items).joinedload(KitItem.item))
    ).all()
    return {kit.name.lower(): kit for kit in rows}

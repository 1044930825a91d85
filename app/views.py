"""The base of the read side's declared views (``people.views``, ``catalog.views``,
``orders.views``): what pages and the API read, as typed, read-only values.

A view is not a model: it holds the values a read answers and borrows nothing from the ORM.
Where it answers a rule (a patient's name, whether a site is usable), it calls the same
small function its model calls. ``frozen``: a view is read, not changed (a list it holds is
filled as the rows come, then read). ``gc=False``: views hold no cycles, so the garbage
collector need not track the thousands one page of orders makes.
"""

from __future__ import annotations

import msgspec


class View(msgspec.Struct, frozen=True, gc=False):
    """A declared, read-only view of a row and its parts. Each view lists the fields read
    from its row first, in the row's order, then the parts built from other columns or rows
    (an address, lines): a read model builds one with one positional call."""

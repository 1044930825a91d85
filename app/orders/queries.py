"""The old name of ``lookups`` and of the API's page of orders (now in ``listing``), kept only
because ``app/orders/serialize.py`` (rewritten on another branch) still imports these two
names from here. Delete this module once it imports them from ``app.orders.listing``."""

from app.orders.listing import COUNT_CAP as TOTAL_CAP
from app.orders.listing import PageOfOrders

__all__ = ["TOTAL_CAP", "PageOfOrders"]

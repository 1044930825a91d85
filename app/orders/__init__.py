"""Orders: the rules for placing and moving them, in one service both doors use."""

from app.orders import ordered_catalog  # noqa: F401  (answers the catalog's "on orders?")

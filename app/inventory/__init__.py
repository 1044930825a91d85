"""Inventory: the middle domain floor. ``orders`` calls it; it never imports ``orders``.

Its rules live in rooms, one a job:

- ``locations``: stock locations, the default one, and the one an order or receipt names.
- ``ledger``: the figures (on hand, reserved, available), the one way they change (a
  ledger row and its balance, locked in one order), the stock check, and ``StockRefused``.
- ``reservations``: what the order service calls to reserve, release, ship and take back.
- ``devices``: the one home of device statuses and their labels; devices following their
  order, and the inspection of returned ones.
- ``receipts``: counted lines and devices received, and the manifest previewed first.
- ``adjustments``: on hand adjusted or counted, with a reason.

Reads for pages and the API are in ``queries``, and the device finder's and the shelf's in
``finder`` (with its CSV, ``devices_csv``); the web door is ``routes`` with ``forms``.
"""

"""Inventory: stock locations, the stock ledger and its balances, devices in stock, receipts
and reservations. The middle domain floor: ``orders`` calls it; it never imports ``orders``."""

"""Webhooks: subscriptions, and the worker that delivers order events to them (workers floor).

The orders domain writes status events into its outbox (``order_outbox``) in the same
transaction as the change; the worker (``flask webhooks work``) turns them into signed
deliveries, one per subscription and type, and sends them with retries.
"""

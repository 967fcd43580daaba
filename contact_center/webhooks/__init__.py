"""Webhooks: signed, retried, idempotent JSON deliveries of call events to other systems.

``WebhookDispatcher`` is a consumer (``handle(event)``) that records one delivery per
subscription and event, and a delivery loop (``run()``) that POSTs them. ``http.setup(app)``
adds the admin pages and API. ``signing`` documents how receivers verify a delivery.
"""

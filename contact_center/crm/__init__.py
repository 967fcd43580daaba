"""Callers looked up in the company's external CRM over HTTP, beside the local database.

``contacts.py`` what a CRM answers (and how its fields map onto ours), ``breaker.py`` the
circuit breaker, ``rest.py`` a configurable REST adapter, ``odoo.py`` Odoo's JSON-RPC,
``service.py`` the lookup the screen pop and the IVR use: cached, bounded by a budget,
never in the way of the local card.
"""

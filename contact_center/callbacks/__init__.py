"""Callbacks dialled back: scheduling, operator-first dialling, retries, pages.

``policy.py`` the retry rules, ``store.py`` the callbacks table, ``dialer.py`` the connector's
loop that rings an operator and then the customer, ``http.py`` "my callbacks" and the
supervisors' list.
"""

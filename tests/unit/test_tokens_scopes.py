"""Which scope each API route needs from a token, and that every documented /api/ route is
reachable by some scope (pages, the websocket and unknown paths by none)."""

from __future__ import annotations

import pytest

from contact_center.web.openapi import load_spec
from contact_center.web.tokens import SCOPES, scope_for


@pytest.mark.parametrize(
    ("method", "path", "scope"),
    [
        ("GET", "/api/customers", "customers:read"),
        ("PATCH", "/api/customers/7", "customers:write"),
        ("PUT", "/api/orders/A-1", "customers:write"),
        ("GET", "/api/calls/pbx1/c1", "calls:read"),
        ("POST", "/api/calls/pbx1/c1/hangup", "calls:write"),
        ("GET", "/api/history/export.csv", "calls:read"),
        ("POST", "/api/callbacks", "callbacks:write"),
        ("GET", "/api/stats/live", "stats:read"),
        ("GET", "/api/exports/charges.csv", "exports:read"),
        ("DELETE", "/api/webhooks/3", "webhooks:admin"),
        ("GET", "/api/webhooks", "webhooks:admin"),
        ("POST", "/api/operator/click-to-call", "operator:write"),
        ("GET", "/api/admin/users", "admin"),
        ("GET", "/api/lists/pause_reason", ""),
        ("GET", "/admin", None),
        ("GET", "/ws", None),
        ("GET", "/api/unknown", None),
        ("GET", "/apix/customers", None),
    ],
)
def test_the_scope_a_request_needs(method: str, path: str, scope: str | None) -> None:
    assert scope == scope_for(method, path)


def test_every_documented_api_operation_has_a_scope() -> None:
    spec = load_spec()
    for path, item in spec["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method in item:
            if method in ("get", "put", "post", "delete", "patch"):
                needed = scope_for(method.upper(), path)
                assert needed is not None and needed in ("", *SCOPES), (method, path)

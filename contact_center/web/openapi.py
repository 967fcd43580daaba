"""``GET /api/openapi.json``: the REST API's OpenAPI 3.1 document (public).

The document is written by hand in ``openapi.yaml`` beside this module, except the operations
generated from their pydantic request and answer models: the admin API's
(:mod:`contact_center.admin.api`) and the form routes declared with
:func:`contact_center.web.forms.documented` (the console's); every operation that needs a
session also takes an API token (``bearerToken``, :mod:`contact_center.web.tokens`). A test
checks that the document names exactly the ``/api/`` routes the service registers, so the two
cannot drift apart.
"""

from __future__ import annotations

import importlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from contact_center.web.auth import public

SPEC_PATH = Path(__file__).with_name("openapi.yaml")
# Modules whose routes declare their operations with contact_center.web.forms.documented.
DOCUMENTED = (
    "contact_center.web.console",
    "contact_center.campaigns.http",
    "contact_center.callbacks.http",
    "contact_center.stats.http",
    "contact_center.history.http",
    "contact_center.webhooks.http",
    "contact_center.exports.http",
    "contact_center.customers.http",
)
OPENAPI_KEY = web.AppKey("cc_openapi_body", bytes)


class OpenApiError(Exception):
    """The bundled OpenAPI document cannot be read."""


@cache
def load_spec() -> dict[str, Any]:
    """The OpenAPI document as a dict (read once per process)."""
    try:
        spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise OpenApiError(f"cannot read {SPEC_PATH}: {exc}") from exc
    if not isinstance(spec, dict) or "paths" not in spec:
        raise OpenApiError(f"{SPEC_PATH} is not an OpenAPI document")
    from contact_center.admin import http as _admin_routes  # noqa: F401  (registers them)
    from contact_center.admin.api import openapi_paths
    from contact_center.web import forms

    for module in DOCUMENTED:  # their routes' @documented operations
        importlib.import_module(module)

    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    spec["paths"].update(openapi_paths(schemas))
    for path, item in forms.openapi_paths(schemas).items():
        spec["paths"].setdefault(path, {}).update(item)  # beside a path's written operations
    components.setdefault("securitySchemes", {})["bearerToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (`cct_…`, made on /admin/tokens): only /api/ routes its "
        "scopes cover; no CSRF token needed.",
    }
    for item in spec["paths"].values():
        for method, op in item.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            security = op.get("security", spec["security"])
            if security == [] or {} in security or any("metricsToken" in s for s in security):
                continue
            if {"bearerToken": []} not in security:
                op["security"] = [*security, {"bearerToken": []}]
    return spec


@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(
        body=request.app[OPENAPI_KEY],
        content_type="application/json",
        headers={"Cache-Control": "public, max-age=300"},
    )


def setup(app: web.Application) -> None:
    # Serialised once at start: a broken document fails the start, not a request.
    app[OPENAPI_KEY] = json.dumps(load_spec(), separators=(",", ":")).encode()
    app.router.add_get("/api/openapi.json", openapi_json, name="openapi")

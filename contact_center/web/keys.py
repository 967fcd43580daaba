"""The web application's shared keys and plugin helpers, in one small module.

Plugins (``<package>/http.py``) import what they need from here, never from
:mod:`contact_center.web.app`, so the app and its plugins do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jinja2
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from contact_center.bus.base import Bus
from contact_center.config import Settings
from contact_center.web.signin import LoginThrottle, Network, PasswordPool
from contact_center.web.ws import PopHub


@dataclass(frozen=True, slots=True)
class Deps:
    """What the web surface needs from the composition root."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    bus: Bus


DEPS_KEY = web.AppKey("cc_deps", Deps)
SETTINGS_KEY = web.AppKey("cc_settings", Settings)
SESSIONS_KEY = web.AppKey("cc_sessions", async_sessionmaker[AsyncSession])
BUS_KEY = web.AppKey("cc_bus", Bus)  # type: ignore[type-abstract]
HUB_KEY = web.AppKey("cc_hub", PopHub)
RATE_LIMIT_KEY = web.AppKey("cc_login_throttle", LoginThrottle)
PASSWORD_POOL_KEY = web.AppKey("cc_password_pool", PasswordPool)
TRUSTED_PROXIES_KEY = web.AppKey("cc_trusted_proxies", tuple[Network, ...])
TEMPLATE_LOADER_KEY = web.AppKey("cc_template_loader", jinja2.ChoiceLoader)


def add_template_dir(app: web.Application, path: str | Path) -> None:
    """Let templates in ``path`` be found (after the core ones; names must not clash)."""
    app[TEMPLATE_LOADER_KEY].loaders.append(jinja2.FileSystemLoader(str(path)))  # type: ignore[attr-defined]


def allowed_origins(settings: Settings) -> frozenset[str]:
    return frozenset(o.strip() for o in settings.web.allowed_origins.split(",") if o.strip())


def redirect(location: str) -> web.Response:
    """A 303 that can carry cookies (raising HTTPFound would drop them)."""
    return web.Response(status=303, headers={"Location": location})

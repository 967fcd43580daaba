"""``/admin`` moved to :mod:`contact_center.admin.http` (pages and the admin REST API); this
module keeps the old import path working."""

from __future__ import annotations

from contact_center.admin.http import ROLE_ORDER, admin_page, end_sessions, setup

__all__ = ["ROLE_ORDER", "admin_page", "end_sessions", "setup"]

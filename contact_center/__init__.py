"""contact_center: a CRM-driven contact center beside Asterisk."""

from __future__ import annotations

__version__ = "0.1.0"

"""The HTTP and websocket surface (aiohttp): sign-in, roles, the operator console, plugins.

See :mod:`contact_center.web.app` for how a feature adds its own pages.
"""

"""IVR menus from ``ivr_menus/*.yaml`` run over our own FastAGI server.

``agi.py`` FastAGI server and wire protocol; ``session.py`` typed AGI commands;
``menus.py`` menu model, loader and validation; ``runner.py`` runs a menu for a call;
``data.py`` database lookups and callbacks; ``service.py`` the long-lived part for the
composition root; ``cli.py`` ``contact-center ivr check|prompts``.
"""

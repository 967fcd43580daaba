"""Tariffication: tariff plans, rating calls, charges and their reports."""

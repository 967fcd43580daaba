"""Customers: phone number normalisation, caller lookup, bulk import, demo data."""

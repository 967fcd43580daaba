"""Interaction history: every fact of a call and a customer, written once."""

"""The call model and domain events: what every consumer sees of Asterisk."""

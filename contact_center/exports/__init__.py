"""Streaming CSV/JSON exports of customers and the charges report (``http.setup(app)``)."""

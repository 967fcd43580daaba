"""Operations: Prometheus metrics (``metrics``), ``/metrics`` and ``/readyz`` (``http``),
structured JSON logs (``logging``)."""

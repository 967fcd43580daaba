"""Live queue and operator statistics, wait estimates, wallboard and historical reports."""

"""Outbound campaigns (docs/campaigns.md).

* ``policy.py`` — calling windows in the customer's zone, retries by outcome, dispositions
* ``pacing.py`` — how many to dial now: preview, progressive, predictive under an abandon cap
* ``simulation.py`` — the pacer against the simulator's callees on a simulated clock
* ``store.py`` — campaigns, their lists (customer search, CSV), attempts, do-not-call
* ``reports.py`` — live figures and the per-campaign report
* ``dialer.py`` — the connector's dialer (operator first, or customer first into
  ``[cc-campaign]``); ``plugin.py`` wires it
* ``http.py`` — the supervisors' and operators' pages and the JSON API
"""

"""The call tracker's concerns, one module each, behind ``ami/tracker.py``'s one ``feed()``.

``state`` holds the working state (calls, legs, operator legs); ``core`` what every concern
shares (event bases, arrival, operator legs' offer/answer/departure, the end of a call);
``duplicates`` drops repeated frames; ``channels``
follows channels, the IVR and hang-ups; ``queues`` the queue's own events; ``members`` the
queue members' states; ``legs`` the operators rung outside a queue (direct, sticky, transfer
targets, consultations); ``transfers`` hold, blind/attended transfers and redirects;
``conferences`` ConfBridge; ``recording`` MixMonitor; ``outbound`` calls we place;
``records`` closing and learning calls from Asterisk's durable records after a gap.
"""

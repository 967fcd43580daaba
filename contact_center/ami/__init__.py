"""Asterisk Manager Interface adapter: bytes → frames → call lifecycle → domain events.

``parser`` (pure framing), ``tracker`` (frames → domain events, live call state), ``connection``
(one TCP session: login, ActionIDs, keepalive), ``actions`` (typed actions), ``resync`` (rebuild
after a reconnect from lists and Asterisk's durable records), ``connector`` (all of it, forever,
for one server), ``replay`` (captures through the same parser and tracker), ``control``
(routing's PbxControl and CallDirectory ports over AMI), ``leader`` (one active connector per
server across hosts: a Redis lease).
"""

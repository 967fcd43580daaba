"""Administration: users, queues, editable lists, API tokens and the audit log (pages and
REST API; see :mod:`contact_center.admin.http`)."""

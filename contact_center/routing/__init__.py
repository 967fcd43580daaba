"""Routing and call control: which queue and operator a call goes to, operator states, and
the AMI actions operators and supervisors trigger from the browser."""

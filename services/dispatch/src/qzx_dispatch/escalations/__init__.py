"""Escalations: a P1 waiting too long, a missed sign-for, a missed feedback deadline. Each is a
task event, a message on ``dispatch.escalations.v1`` and a signed POST to the escalation webhook."""

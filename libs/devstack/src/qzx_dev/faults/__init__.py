"""Fault injection for the tests: the services as real processes (``deployment``), a steady camera
load (``load``), readiness sampling, and a TCP fault proxy (``proxy``)."""

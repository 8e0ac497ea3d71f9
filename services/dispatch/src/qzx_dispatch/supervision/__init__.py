"""Supervision of patrol credentials: one person's token used from two devices at once, or used
while that person is on no crew, is recorded and listed for auditors and commanders."""

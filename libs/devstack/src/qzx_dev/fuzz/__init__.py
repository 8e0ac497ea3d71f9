"""Fuzz inputs for the consumers and the exchange: mutated camera messages (``camera``) and garbage
for the internal topics (``garbage``), deterministic for a seed."""

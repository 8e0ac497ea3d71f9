"""The alerts side of the signed exchange: hotlists in, the alert feed and daily statistics out."""

"""Checkpoint watch: every passage on passages.accepted.v1 checked against the hotlists (an index
held in memory, kept current from ``hotlist_changes``) and for cloned plates (the plate's last
sighting, held per partition)."""

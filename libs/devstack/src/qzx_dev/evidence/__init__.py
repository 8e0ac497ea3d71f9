"""Development evidence images: `make run`'s camera events point here, so the console shows pictures.

The simulator names each picture ``<base>/<admin_code>/<yyyymmdd>/<event_id>-<n>.jpg?plate=…&device=…``
(``EventGenerator(evidence_url=…)``); this server draws a placeholder for it on request (the plate
and the device on a dark frame, with Pillow), so nothing is stored. Its bytes are not the event's
``sha256`` (the simulator's hashes stand in for a real camera's).
"""

from __future__ import annotations

from qzx_dev.evidence.app import create_app, render

__all__ = ["create_app", "render"]

"""Patrol-app simulator (``qzx patrol-sim``): closes the loop under ``make run``.

``run(config)`` drives one simulated patrol app per unit on duty against dispatch's HTTP API
(docs/contract.md, the patrol protocol); ``main(argv)`` is the command line.
"""

from qzx_dev.patrol_sim.cli import main
from qzx_dev.patrol_sim.config import SimConfig
from qzx_dev.patrol_sim.fleet import run
from qzx_dev.patrol_sim.stats import Stats

__all__ = ["SimConfig", "Stats", "main", "run"]

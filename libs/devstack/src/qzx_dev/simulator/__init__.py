"""Camera simulator: a realistic violation stream for the province (``qzx simulate``).

``EventGenerator`` is the pure generator (no I/O) that tests and benchmarks use; ``stream`` sends
its output to Kafka; ``main(argv)`` is the command line.
"""

from qzx_dev.simulator.cli import main
from qzx_dev.simulator.clock import SimClock, StepClock, parse_clock
from qzx_dev.simulator.generator import EventGenerator, SimMessage
from qzx_dev.simulator.stream import StreamStats, stream

__all__ = [
    "EventGenerator",
    "SimClock",
    "SimMessage",
    "StepClock",
    "StreamStats",
    "main",
    "parse_clock",
    "stream",
]

"""The contract's sample messages (``qzx_common.contracts.samples``), where the dev tools' tests and
benchmarks have always imported them."""

from qzx_common.contracts.samples import CHINA, make_accident, make_event, make_passage

__all__ = ["CHINA", "make_accident", "make_event", "make_passage"]

import os

from hypothesis import settings

pytest_plugins = ["qzx_dev.testing"]

# `make test` must give the same verdict every run: property tests and schemathesis draw the same
# examples each time. `make fuzz` draws fresh ones (QZX_HYPOTHESIS=fuzz) to look for new failures.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("fuzz", derandomize=False)
settings.load_profile(os.environ.get("QZX_HYPOTHESIS", "repeatable"))

import sys

from qzx_dev.simulator.cli import main

sys.exit(main())

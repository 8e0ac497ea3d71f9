import sys

from qzx_dev.patrol_sim.cli import main

sys.exit(main())

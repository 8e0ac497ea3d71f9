from qzx_dev.soak.cli import main

raise SystemExit(main())

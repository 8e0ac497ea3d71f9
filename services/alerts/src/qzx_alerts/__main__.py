import sys

from qzx_alerts.main import main, migrate

if sys.argv[1:] == ["migrate"]:
    raise SystemExit(migrate())
main()

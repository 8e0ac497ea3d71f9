import sys

from qzx_dispatch.main import main, migrate

if sys.argv[1:] == ["migrate"]:
    raise SystemExit(migrate())
main()

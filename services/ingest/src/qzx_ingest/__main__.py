import sys

from qzx_ingest.main import main, migrate

if sys.argv[1:] == ["migrate"]:
    raise SystemExit(migrate())
main()

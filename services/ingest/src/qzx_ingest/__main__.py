from qzx_ingest.main import main

main()

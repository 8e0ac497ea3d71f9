from qzx_dev.evidence.app import main

main()

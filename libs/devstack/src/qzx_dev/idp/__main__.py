from qzx_dev.idp.app import main

main()

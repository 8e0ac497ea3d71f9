from qzx_dev.console.main import main

main()

from qzx_dispatch.main import main

main()

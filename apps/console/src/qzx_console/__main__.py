from qzx_console.main import main

main()

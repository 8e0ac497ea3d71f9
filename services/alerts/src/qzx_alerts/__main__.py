from qzx_alerts.main import main

main()

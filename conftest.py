pytest_plugins = ["qzx_dev.testing"]

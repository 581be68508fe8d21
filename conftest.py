pytest_plugins = ["vocation_local.testing"]

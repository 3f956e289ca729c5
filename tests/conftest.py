pytest_plugins = ["openstackoid.testbed.pytest_plugin", "tests.federation"]

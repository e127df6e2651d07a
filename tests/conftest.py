"""Test configuration: CareLoop's fixtures come from ``core.testing``."""

pytest_plugins = ["core.testing"]

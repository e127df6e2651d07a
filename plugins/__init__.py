"""Built-in CareLoop plugins: one sub-package per feature, each with a ``manifest``."""

"""CareLoop core: registry models, services, hooks and the plugin manager.

Plugins need one import::

    from core import Manifest, hookimpl
"""

from core.hookspecs import hookimpl
from core.manifest import Manifest

__version__ = "0.1.0"
__all__ = ["Manifest", "__version__", "hookimpl"]

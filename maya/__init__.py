"""Maya ASR: the library behind the Snakemake workflow (all real logic lives here).

Importing ``maya`` lets NeMo restore Maya models: NeMo 3.0 refuses to instantiate a ``.nemo``
whose ``target`` is outside its allow-list, so ``maya.`` is added to that list. Importing NeMo takes
seconds, and most of this package never needs it, so the prefix is added when NeMo's module loads
(or at once, if it already has).
"""

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

_NEMO_COMMON = "nemo.core.classes.common"
_PREFIX = "maya."


def _allow(module) -> None:
    if _PREFIX not in module.ALLOWED_TARGET_PREFIXES:
        module.ALLOWED_TARGET_PREFIXES.append(_PREFIX)


class _AllowMayaTargets(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != _NEMO_COMMON:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_and_allow(module):
            exec_module(module)
            _allow(module)

        loader.exec_module = exec_and_allow
        return spec


if _NEMO_COMMON in sys.modules:
    _allow(sys.modules[_NEMO_COMMON])
elif not any(isinstance(f, _AllowMayaTargets) for f in sys.meta_path):
    sys.meta_path.insert(0, _AllowMayaTargets())

"""Model directories saved by splare-pyserini 0.1 name their modules by the flat layout's paths.

``modules.json`` stores each module's class by its dotted path (sentence-transformers imports it
on load), so a directory written before the package layout says
``splare_pyserini.backbone.CausalLMBackbone``. :func:`install` lets such paths resolve to the
modules' new homes, so every saved model keeps loading unchanged.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

LEGACY_MODULES = {
    "splare_pyserini.backbone": "splare_pyserini.modeling.backbone",
    "splare_pyserini.sae_latents": "splare_pyserini.modeling.sae_latents",
}


class LegacyModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old module path as a stand-in whose attributes are the new module's."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in LEGACY_MODULES else None

    def create_module(self, spec):
        return None  # a fresh module object: the real module keeps its own name and spec

    def exec_module(self, module) -> None:
        real = importlib.import_module(LEGACY_MODULES[module.__name__])
        module.__getattr__ = lambda name: getattr(real, name)


def install() -> None:
    if not any(isinstance(finder, LegacyModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(LegacyModuleFinder())

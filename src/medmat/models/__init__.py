"""Backbones: Hugging Face multimodal LLMs and the CPU reference model, behind one interface.

Backbone packages register themselves in ``medmat.models.base.BACKBONES`` when imported and
import no torch at module top; :func:`discover_backbones` imports them all (cheap), so the
registry is complete and unknown names get did-you-mean errors.
"""

from __future__ import annotations

import importlib
import pkgutil


def discover_backbones():
    """Import every backbone module under medmat.models; return the filled registry."""
    from medmat.models.base import BACKBONES

    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_") or mod.name in ("base", "tiny"):
            continue
        importlib.import_module(f"{__name__}.{mod.name}")
    return BACKBONES

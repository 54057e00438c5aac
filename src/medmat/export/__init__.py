"""Exporters of a VQA store to training/evaluation tool formats (one module per family).

``EXPORTERS`` names them; ``export_store(store, fmt, out_dir, options)`` runs one.
"""

from medmat.export import chat, parquet, vlmevalkit  # noqa: F401 - register the formats
from medmat.export.base import EXPORTERS, ExportContext, ExportOptions, export_store

__all__ = ["EXPORTERS", "ExportContext", "ExportOptions", "export_store"]

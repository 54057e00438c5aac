"""Exporters of a VQA store to training/evaluation tool formats (one module per family).

``EXPORTERS`` names them; ``run_export(store, fmt, out_dir, config)`` runs one (the export
stage's operation) and ``export_store`` returns just the files it wrote. docs/exports.md
has the commands each tool's user runs next.
"""

from medmat.export import chat, lmms, parquet, vlmevalkit  # noqa: F401 - register the formats
from medmat.export.base import EXPORTERS, ExportContext, export_store, run_export
from medmat.export.config import ExportConfig, ExportOptions

__all__ = ["EXPORTERS", "ExportConfig", "ExportContext", "ExportOptions", "export_store", "run_export"]

"""The Med-MAT catalog: source datasets, MAT subsets and instruction templates, as data.

``load_catalog()`` gives the built-in catalog (``data/*.yaml``) validated; user catalog
files are laid over it with ``load_catalog(user_files=[...])``. See docs/ARCHITECTURE.md.
"""

from medmat.catalog.issues import CatalogError, CatalogIssue
from medmat.catalog.loader import Catalog, load_catalog, validate_catalog
from medmat.catalog.models import (
    LAYOUT_TYPES,
    ClassFoldersLayout,
    DatasetEntry,
    DicomLayout,
    LabelTableLayout,
    Layout,
    MedmatJsonLayout,
    NiftiLayout,
    SubsetEntry,
    TableRow,
)

__all__ = [
    "Catalog", "CatalogError", "CatalogIssue", "load_catalog", "validate_catalog",
    "LAYOUT_TYPES", "Layout", "ClassFoldersLayout", "LabelTableLayout", "DicomLayout", "NiftiLayout",
    "MedmatJsonLayout", "DatasetEntry", "SubsetEntry", "TableRow",
]

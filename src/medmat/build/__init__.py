"""The build stage: raw datasets (or released Med-MAT json, or the synthetic benchmark)
-> a VQA store. One config (:class:`BuildConfig`) and one operation (:func:`build`),
called by ``medmat build``, ``medmat import-medmat`` and ``medmat run``.
"""

from medmat.lazy import lazy_exports

_EXPORTS = {
    "AdhocDataset": "config",
    "BuildConfig": "config",
    "BuildError": "selection",
    "BuildOutcome": "run",
    "BuildSettings": "config",
    "DatasetJob": "config",
    "DatasetResult": "stage1",
    "StrictBuildError": "run",
    "build": "run",
    "build_store": "run",
    "fingerprint": "stage1",
    "input_files": "run",
    "run_stage1": "stage1",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

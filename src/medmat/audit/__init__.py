"""Exact (pixel-hash) and near (DCT pHash) duplicate finder for VQA stores."""

from medmat.audit.hashing import hamming, load, phash, pixel_hash
from medmat.audit.neighbours import near_pairs
from medmat.audit.report import DEFAULT_THRESHOLD, audit_store, has_leak, leaks

__all__ = ["DEFAULT_THRESHOLD", "audit_store", "hamming", "has_leak", "leaks", "load", "near_pairs", "phash",
           "pixel_hash"]

"""Near-duplicate search over 64-bit hashes without comparing every pair.

Multi-index hashing: cut each hash into ``t + 1`` disjoint chunks. Two hashes within
Hamming distance ``t`` differ in at most ``t`` chunks, so they agree exactly on at least
one (pigeonhole). Bucketing by (chunk index, chunk value) and verifying only pairs that
share a bucket finds every pair within ``t``; the candidates are far fewer than n^2/2
unless the hashes themselves cluster.
"""

from __future__ import annotations

from collections import defaultdict

BITS = 64


def _chunks(bits: int, m: int) -> list[tuple[int, int]]:
    """(shift, mask) for ``m`` near-equal disjoint chunks of ``bits`` bits."""
    out, start = [], 0
    for i in range(m):
        width = bits // m + (1 if i < bits % m else 0)
        out.append((start, (1 << width) - 1))
        start += width
    return out


def near_pairs(hashes: list[int], threshold: int) -> list[tuple[int, int, int]]:
    """Every (i, j, distance) with i < j and Hamming(hashes[i], hashes[j]) <= threshold."""
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    m = min(threshold + 1, BITS)
    chunks = _chunks(BITS, m)
    seen: set[tuple[int, int]] = set()
    out: list[tuple[int, int, int]] = []
    for c, (shift, mask) in enumerate(chunks):
        buckets: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(hashes):
            buckets[(h >> shift) & mask].append(i)
        for members in buckets.values():
            if len(members) < 2:
                continue
            for x in range(len(members)):
                i = members[x]
                for y in range(x + 1, len(members)):
                    j = members[y]
                    if (i, j) in seen:
                        continue
                    seen.add((i, j))
                    d = (hashes[i] ^ hashes[j]).bit_count()
                    if d <= threshold:
                        out.append((i, j, d))
    return sorted(out)

"""Sharded evaluation: each process of a multi-process launch asks its share of the questions.

The questions of each scorer are cut into batches exactly as one process would cut them,
and batch ``i`` goes to rank ``i % world``. Keeping the batches whole is what makes a
sharded run write the same bytes as a single process: a batch's padding (and so every
float of its option scores) depends on which questions share it. An uneven split simply
leaves the last ranks one batch short; nothing is padded, so nothing can be counted twice.
Rows are keyed by (scorer, item, rotation) when they are merged, which would also absorb
a repeated row.

The rows come back to every rank through one ``all_gather`` (:func:`medmat.runtime.all_gather`)
together with each rank's error, if it had one, so a shard that fails is reported by
rank 0 as well, with the failing rank's message, and no rank writes results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

from medmat import runtime

T = TypeVar("T")


class ShardError(ValueError):
    """A rank's share of an evaluation failed; the message names the rank and its error."""


@dataclass(frozen=True)
class Shard:
    """This process's place in the launch: ``rank`` of ``world`` processes."""

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is not one of {self.world} processes")

    @classmethod
    def of_launch(cls) -> "Shard":
        """The shard of this process under ``accelerate launch`` / ``torchrun`` (0 of 1 otherwise)."""
        return cls(runtime.rank(), runtime.world_size())

    @property
    def sharded(self) -> bool:
        return self.world > 1

    def batches(self, todo: Sequence[T], batch_size: int) -> list[list[T]]:
        """This rank's batches of ``todo``: the single-process batches ``rank``, ``rank + world`` ..."""
        return [list(todo[s:s + batch_size]) for s in range(self.rank * batch_size, len(todo), self.world * batch_size)]

    def gather(self, obj: Any, what: str) -> list[Any]:
        """Every rank's ``obj`` in rank order (``[obj]`` in one process)."""
        return runtime.all_gather(obj, what) if self.sharded else [obj]


def merge_shards(gathered: Sequence[tuple[list[Any], str | None]], what: str) -> list[Any]:
    """The rows of every rank, or a :class:`ShardError` naming each rank that failed."""
    failed = [(r, err) for r, (_, err) in enumerate(gathered) if err]
    if failed:
        raise ShardError(f"{what} failed on {len(failed)} of {len(gathered)} processes: "
                         + "; ".join(f"rank {r}: {err}" for r, err in failed))
    return [row for rows, _ in gathered for row in rows]

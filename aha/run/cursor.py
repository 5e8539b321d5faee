"""Where a run is in its data: a seeded shuffle of the examples, a new one each epoch, and a position.

The position is all a checkpoint needs: the order of epoch e derives from (seed, e) alone, so a run resumed
at position p draws exactly what the uninterrupted run would have drawn from p on.
"""

from __future__ import annotations

import random


class Cursor:
    """Positions into `size` examples, taken in a seeded per-epoch shuffle."""

    def __init__(self, size: int, seed: int, position: int = 0) -> None:
        if size < 1:
            raise ValueError("a cursor needs at least one example")
        self.size, self.seed, self.position = size, seed, position
        self._order: tuple[int, list[int]] = (-1, [])

    def take(self, count: int) -> list[int]:
        """The next `count` example indices; the position moves past them."""
        indices = []
        for _ in range(count):
            epoch, offset = divmod(self.position, self.size)
            indices.append(self.order(epoch)[offset])
            self.position += 1
        return indices

    @property
    def epoch(self) -> int:
        return self.position // self.size

    def order(self, epoch: int) -> list[int]:
        """The shuffle of one epoch (computed once per epoch)."""
        if self._order[0] != epoch:
            order = list(range(self.size))
            random.Random(f"{self.seed}/epoch/{epoch}").shuffle(order)
            self._order = (epoch, order)
        return self._order[1]

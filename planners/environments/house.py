"""Floor plans: 6-8 rooms on a 3x3 grid joined by doors; travel follows the shortest door path."""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cached_property

from promptopt import records

from . import tuning

__all__ = ["ROOM_NAMES", "House", "make_house"]

#: Candidate room names; "Bedroom" (where the bed is) is always present.
ROOM_NAMES = (
    "Kitchen", "Livingroom", "Office", "Porch", "Bathroom", "Diningroom", "Laundryroom", "Storage",
)


@dataclass(frozen=True)
class House(records.Record):
    """Rooms, their grid cells and weighted doors; distances and paths are precomputed."""

    rooms: tuple[str, ...]
    cells: tuple[tuple[int, int], ...]
    doors: tuple[tuple[str, str, int], ...]

    @cached_property
    def _tables(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], str]]:
        inf = 10**9
        dist = {(a, b): (0 if a == b else inf) for a in self.rooms for b in self.rooms}
        nxt: dict[tuple[str, str], str] = {(a, a): a for a in self.rooms}
        for a, b, w in self.doors:
            dist[a, b] = dist[b, a] = w
            nxt[a, b], nxt[b, a] = b, a
        for k in self.rooms:  # Floyd-Warshall: at most 8 rooms
            for i in self.rooms:
                dik = dist[i, k]
                if dik >= inf:
                    continue
                for j in self.rooms:
                    if dik + dist[k, j] < dist[i, j]:
                        dist[i, j] = dik + dist[k, j]
                        nxt[i, j] = nxt[i, k]
        return dist, nxt

    def distance(self, a: str, b: str) -> int:
        """Ticks to walk from room ``a`` to room ``b``."""
        return self._tables[0][a, b]

    def path(self, a: str, b: str) -> tuple[tuple[str, int], ...]:
        """Rooms entered on the way from ``a`` to ``b`` with the ticks of each door."""
        nxt = self._tables[1]
        hops: list[tuple[str, int]] = []
        here = a
        while here != b:
            step = nxt[here, b]
            hops.append((step, self._door_set[here, step]))
            here = step
        return tuple(hops)

    def hops(self, a: str, b: str) -> tuple[list[tuple[int, str, str]], int]:
        """The walk from ``a`` to ``b`` as (elapsed time at arrival, "hop", room) phases, and
        its total time: how both worlds schedule travel."""
        phases, elapsed = [], 0
        for room, cost in self.path(a, b):
            elapsed += cost
            phases.append((elapsed, "hop", room))
        return phases, elapsed

    @cached_property
    def _door_set(self) -> dict[tuple[str, str], int]:
        out = {}
        for a, b, w in self.doors:
            out[a, b] = out[b, a] = w
        return out

    def neighbours(self, room: str) -> tuple[str, ...]:
        return tuple(b for (a, b) in self._door_set if a == room)


def make_house(rng: random.Random, door_ticks: int | None = None) -> House:
    """Grow a connected set of 6-8 grid cells, name them, join them by a random spanning tree of
    doors plus a few extra doors (so some rooms have two ways in)."""
    door_ticks = tuning.TICKS_PER_DOOR if door_ticks is None else door_ticks
    n = rng.randint(6, 8)
    all_cells = [(x, y) for x in range(3) for y in range(3)]
    cells = [rng.choice(all_cells)]
    while len(cells) < n:
        frontier = sorted({(x + dx, y + dy) for x, y in cells for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1))
                           if 0 <= x + dx < 3 and 0 <= y + dy < 3} - set(cells))
        cells.append(rng.choice(frontier))
    names = ["Bedroom"] + rng.sample(ROOM_NAMES, n - 1)
    rng.shuffle(names)
    at = dict(zip(cells, names))
    adjacent = sorted((at[c], at[d]) for c in cells for d in cells
                      if c < d and abs(c[0] - d[0]) + abs(c[1] - d[1]) == 1)
    # Random spanning tree (randomised Kruskal), then each remaining adjacency with chance 0.3.
    rng.shuffle(adjacent)
    parent = {r: r for r in names}

    def find(r: str) -> str:
        while parent[r] != r:
            r = parent[r]
        return r

    doors = []
    for a, b in adjacent:
        ra, rb = find(a), find(b)
        if ra != rb or rng.random() < 0.3:
            parent[ra] = rb
            doors.append((a, b, max(1, round(door_ticks * rng.uniform(0.8, 1.25)))))
    return House(rooms=tuple(names), cells=tuple(cells), doors=tuple(doors))

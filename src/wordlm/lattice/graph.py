"""The shape of a lattice: the links on a start→end path, a topological order, levels, a cycle check.

`prepare(lattice)` keeps the nodes that are both reachable from the start and able to reach the end
(others cannot be on a path), orders them topologically (Kahn's algorithm; a cycle is an
`InputError` naming a link on it), and gives each node its *level*: the longest number of links
from the start. Every link goes from a lower level to a higher one, so the search can take all
the nodes of a level together (one batched model call a level). Not here: scores (`search.py`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from wordlm.errors import InputError


@dataclass
class Shape:
    order: list[int]  # the kept nodes, topologically sorted (start first, end last)
    level: np.ndarray  # <int64>[nodes]: longest path length from the start; -1 for a dropped node
    out_links: list[list[int]]  # per node: its kept outgoing links
    in_links: list[list[int]]  # per node: its kept incoming links
    links: np.ndarray  # <int64>[kept links]


def _reach(n_nodes, first, adjacency, ends) -> np.ndarray:
    seen = np.zeros(n_nodes, dtype=bool)
    seen[first] = True
    todo = [first]
    while todo:
        u = todo.pop()
        for j in adjacency[u]:
            v = ends[j]
            if not seen[v]:
                seen[v] = True
                todo.append(v)
    return seen


def prepare(lat) -> Shape:
    n = lat.num_nodes
    if lat.start == lat.end:
        raise InputError(f"{lat.name}: field end={lat.end}: the start and end are the same node (no words to rescore)")
    starts, ends = lat.link_start.tolist(), lat.link_end.tolist()
    out_all: list[list[int]] = [[] for _ in range(n)]
    in_all: list[list[int]] = [[] for _ in range(n)]
    for j, (s, e) in enumerate(zip(starts, ends)):
        out_all[s].append(j)
        in_all[e].append(j)
    forward = _reach(n, lat.start, out_all, ends)
    backward = _reach(n, lat.end, in_all, starts)
    if not forward[lat.end]:
        raise InputError(f"{lat.name}: field end={lat.end}: the end node cannot be reached from the start node "
                         f"{lat.start}")
    keep = forward & backward
    kept = [j for j in range(len(starts)) if keep[starts[j]] and keep[ends[j]]]
    out_links: list[list[int]] = [[] for _ in range(n)]
    in_links: list[list[int]] = [[] for _ in range(n)]
    indegree = np.zeros(n, dtype=np.int64)
    for j in kept:
        out_links[starts[j]].append(j)
        in_links[ends[j]].append(j)
        indegree[ends[j]] += 1
    level = np.full(n, -1, dtype=np.int64)
    level[lat.start] = 0
    order = []
    queue = deque([lat.start]) if indegree[lat.start] == 0 else deque()
    while queue:
        u = queue.popleft()
        order.append(u)
        for j in out_links[u]:
            v = ends[j]
            level[v] = max(level[v], level[u] + 1)
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    if len(order) != int(keep.sum()):
        stuck = next(j for j in kept if indegree[ends[j]] > 0)
        raise InputError(f"{lat.name}: link J={stuck} (S={starts[stuck]} E={ends[stuck]}) is on a cycle: "
                         "a lattice must be acyclic")
    return Shape(order, level, out_links, in_links, np.asarray(kept, dtype=np.int64))

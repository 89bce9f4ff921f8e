"""CPU time from /proc (Linux): the whole machine's, and one process tree's, so a timing test can tell how much
of the machine other work took while it measured."""
from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def machine_seconds() -> float:
    """CPU seconds every core has spent busy (all but idle and iowait) since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / TICKS


def tree_seconds(root: int) -> float:
    """CPU seconds used so far by a process and all its living descendants (their threads included)."""
    parent_of, used = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # it ended meanwhile
                continue
            pid = int(entry.name)
            parent_of[pid], used[pid] = int(fields[1]), int(fields[11]) + int(fields[12])  # ppid; utime + stime
    children = defaultdict(list)
    for pid, parent in parent_of.items():
        children[parent].append(pid)
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += used.get(pid, 0)
        todo += children[pid]
    return total / TICKS


class Others:
    """How many cores processes outside this one's tree used between start() and stop()."""

    def start(self) -> "Others":
        self._machine, self._mine, self._wall = machine_seconds(), tree_seconds(os.getpid()), _now()
        return self

    def stop(self) -> float:
        machine, mine, wall = machine_seconds(), tree_seconds(os.getpid()), _now()
        return max(0.0, (machine - self._machine) - (mine - self._mine)) / (wall - self._wall)


def _now() -> float:
    return os.times().elapsed

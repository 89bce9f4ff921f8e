"""How many torch CPU threads a trainer thread uses when runs share a machine: the app's rule, here in the engine
so that bench.py can measure a trainer under it without importing the app.

torch's thread count is a setting of the calling thread (OpenMP's), not of the process, so each trainer thread
sets its own, before its first step and again as runs start and end. And every thread that has run an op on
more than one thread keeps a team of OpenMP threads while it lives. While the threads kept in teams outnumber
the cores (libgomp counts 1 + the sum of (team size - 1)), libgomp stops spin-waiting between ops, and every op
then pays for putting its team to sleep and waking it. Measured on 2 cores (bench's LSTM setting, T=50, H=128,
B=64; other work kept the load at 3.5-8, so the measuring process ran at a raised priority, autogroup nice -20):

    plain loop in the main thread            1 thread: 40-43 steps/s     2 threads: 52-56
    trainer thread                           1 thread: 40-42             2 threads: 32-33
      while the main thread had run ops on 2 threads (a team kept: the old command line)
    trainer thread, the main thread having   2 threads: 49-61
      run nothing on more than 1 (torch.set_num_threads(1) first, or OMP_NUM_THREADS=1)
    torch.set_num_interop_threads(1)         no change (34)

So a trainer on one thread trains at a plain loop's speed whatever other threads do, and one on more only while
no other thread keeps a team: the app therefore starts with OMP_NUM_THREADS=1 (app.py), so that only trainers
use more than one thread, and the shares below keep the trainers' own teams within the cores.
"""
from __future__ import annotations

import os

import torch


def torch_threads_per_run(training: int) -> int:
    """An equal share of the cores among the runs training now, less one core for drawing pages: a team of
    torch threads waits at every op for its slowest member, so one that shares a core with the server's own
    work stalls the rest (measured on 2 cores, chromium showing the live view on the same machine: 42 steps/s on
    1 thread, 15 to 26 on 2; with the browser elsewhere 2 threads gave 65 against 47). libgomp's count of the
    trainers' teams then stays within cores - runs, under its limit (see above). RNNVIZ_TORCH_THREADS fixes it."""
    fixed = os.environ.get("RNNVIZ_TORCH_THREADS")
    return int(fixed) if fixed else max(1, ((os.cpu_count() or 1) - 1) // max(1, training))


def take_share(training: int) -> None:
    """Set the calling thread's torch threads to its share while `training` runs train."""
    threads = torch_threads_per_run(training)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)

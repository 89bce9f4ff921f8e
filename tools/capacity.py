"""How many concurrent default runs one machine holds while every tab's live view refreshes at least once a second.

For each N, starts R servers (`streamlit run app.py` on 127.0.0.1, replicas as behind a proxy), opens N
sessions spread over them (tests/wsclient.py: the app's websocket protocol without a browser, so the
machine's cores serve only the servers), presses Train in each (the default run: adding, LSTM, T=50, H=64,
batch 50; each its own seed; the training cap lifted so that all N train), lets them all poll their live
views for a while, and reports the slowest and the median live-view refresh rate, the median and the total
training speed, the cores the servers used, and the cores other processes took meanwhile (other work on
the machine lowers the figures, so note it).

    python tools/capacity.py                          # one server; N = 2 4 6 8 10 12, 15 s each
    python tools/capacity.py --replicas 2 --sessions 8 12 16
    python tools/capacity.py --sessions 8 --env RNNVIZ_TRAINER_NICENESS=0

Takes well under a minute per N. Prints a Markdown table; the capacity is the largest N whose slowest
session still refreshes at least once a second.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import AppServer  # noqa: E402
from cpu import Others, tree_seconds  # noqa: E402
from wsclient import Session  # noqa: E402


def trained_steps(session: Session) -> int:
    """The run's step, from its Train page's progress caption ("Step 1234 of 100000")."""
    session.run()
    return int(re.search(r"\d+", session.texts("progress")[0]).group())


def step_rates(sessions: list[Session], wait) -> tuple[list[float], float, float]:
    """Each run's steps per second while wait() runs, and the monotonic times wait() began and ended."""
    before = [trained_steps(s) for s in sessions]
    begin = time.monotonic()
    wait()
    end = time.monotonic()
    return [(trained_steps(s) - b) / (end - begin) for s, b in zip(sessions, before)], begin, end


def measure(n: int, replicas: int, seconds: float, env: dict) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="rnnviz-capacity-"))
    cap = str(-(-n // replicas))  # every run trains at once
    # No source watcher: edits elsewhere in the tree must not disturb the measurement (nor do they in the Dockerfile).
    servers = [AppServer(folder / f"streamlit-{r}.log", env={"RNNVIZ_MAX_TRAINING": cap,
                                                            "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", **env})
               for r in range(replicas)]
    try:
        def start(i):
            session = Session(servers[i % replicas].url, f"seed={i}&steps=100000")  # no run ends while measured
            session.click("Train")
            return session

        with ThreadPoolExecutor(4) as pool:
            sessions = list(pool.map(start, range(n)))
        # Headless: the same runs with no tab watching (a tab that does not poll costs the server no redraws).
        headless, _, _ = step_rates(sessions, lambda: time.sleep(seconds))
        servers_cpu = lambda: sum(tree_seconds(s.process.pid) for s in servers)  # noqa: E731
        others, used = Others().start(), servers_cpu()

        def watch():
            with ThreadPoolExecutor(n) as pool:
                list(pool.map(lambda s: s.poll(seconds), sessions))

        watched, begin, end = step_rates(sessions, watch)
        used, busy = (servers_cpu() - used) / (end - begin), others.stop()
        rates = [s.live.rate(begin, end) for s in sessions]
        for session in sessions:
            session.close()
        return {"slowest": min(rates), "median": statistics.median(rates), "speed": statistics.median(watched),
                "total": sum(watched), "headless": sum(headless), "used": used, "others": busy}
    finally:
        for server in servers:
            server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[2, 4, 6, 8, 10, 12])
    parser.add_argument("--replicas", type=int, default=1, help="servers the sessions are spread over")
    parser.add_argument("--seconds", type=float, default=15.0, help="how long every session polls its live view")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE settings for the servers")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print(f"{os.cpu_count()} cores, {args.replicas} server(s), settings {env or 'default'}; "
          f"live views polled {args.seconds:g} s per N\n")
    print("| concurrent runs | slowest tab, refreshes/s | median tab | steps/s per run (median) | steps/s, all runs "
          "| headless, all runs | watched / headless | cores used by the servers | by other processes |")
    print("|---|---|---|---|---|---|---|---|---|")
    capacity = 0
    for n in args.sessions:
        row = measure(n, args.replicas, args.seconds, env)
        print(f"| {n} | {row['slowest']:.2f} | {row['median']:.2f} | {row['speed']:.1f} | {row['total']:.0f} "
              f"| {row['headless']:.0f} | {row['total'] / row['headless']:.0%} | {row['used']:.2f} | {row['others']:.2f} |", flush=True)
        if row["slowest"] >= 1.0:
            capacity = max(capacity, n)
    print(f"\ncapacity: {capacity} concurrent default runs with every live view refreshing at least once a second")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How many concurrent default runs one server holds while every tab's live view refreshes at least once a second.

For each N, starts `streamlit run app.py` on 127.0.0.1 with the training cap lifted to N, opens N sessions
(tests/wsclient.py: the app's websocket protocol without a browser, so this machine's cores serve only the
server), presses Train in each (the default run: adding, LSTM, T=50, H=64, batch 50; each its own seed),
lets them all poll their live views for a while, and reports per N the slowest and the median live-view
refresh rate and the median training speed. Each row also says how many cores the server used meanwhile,
and how many processes other than this script and its server took: other work lowers the figures.

    python tools/capacity.py                     # N = 1 2 4 6 8 10 12, 20 s each
    python tools/capacity.py --sessions 4 8 16 --seconds 30 --env RNNVIZ_TRAINER_NICENESS=0

Takes about a minute per N. Prints a Markdown table; the capacity is the largest N whose slowest session
still refreshes at least once a second.
"""
from __future__ import annotations

import argparse
import os
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


def measure(n: int, seconds: float, env: dict) -> dict:
    log = Path(tempfile.mkdtemp(prefix="rnnviz-capacity-")) / "streamlit.log"
    # No source watcher: edits elsewhere in the tree must not disturb the measurement (nor do they in the Dockerfile).
    server = AppServer(log, env={"RNNVIZ_MAX_TRAINING": str(n), "STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none", **env})
    try:
        def start(i):
            session = Session(server.url, f"seed={i}&steps=100000")  # steps: no run ends during the measurement
            session.click("Train")
            return session

        with ThreadPoolExecutor(4) as pool:
            sessions = list(pool.map(start, range(n)))
        others, app_before = Others().start(), tree_seconds(server.process.pid)
        begin = time.monotonic()
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(lambda s: s.poll(seconds), sessions))
        end = time.monotonic()
        app = (tree_seconds(server.process.pid) - app_before) / (end - begin)
        busy = others.stop()
        rates = [s.live.rate(begin, end) for s in sessions]
        speeds = []
        for session in sessions:
            session.run()
            speeds.append(float(session.texts("metric")[2]))  # the page's "Steps / s"
            session.close()
        return {"n": n, "slowest": min(rates), "median": statistics.median(rates), "steps_per_s": statistics.median(speeds),
                "server": app, "others": busy}
    finally:
        server.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 4, 6, 8, 10, 12])
    parser.add_argument("--seconds", type=float, default=20.0, help="how long every session polls its live view")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE settings for the server")
    args = parser.parse_args()
    env = dict(item.split("=", 1) for item in args.env)
    print(f"{os.cpu_count()} cores; server settings {env or 'default'}; live view polled {args.seconds:g} s per N\n")
    print("| concurrent runs | slowest tab, refreshes/s | median tab, refreshes/s | median steps/s per run "
          "| cores used by the server | by other processes |")
    print("|---|---|---|---|---|---|")
    capacity = 0
    for n in args.sessions:
        row = measure(n, args.seconds, env)
        print(f"| {row['n']} | {row['slowest']:.2f} | {row['median']:.2f} | {row['steps_per_s']:.1f} "
              f"| {row['server']:.2f} | {row['others']:.2f} |", flush=True)
        if row["slowest"] >= 1.0:
            capacity = max(capacity, n)
    print(f"\ncapacity: {capacity} concurrent default runs with every live view refreshing at least once a second")
    return 0


if __name__ == "__main__":
    sys.exit(main())

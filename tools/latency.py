"""How long the server takes to answer what a user does: per page and per control, p50/p95 over repetitions.

Starts `streamlit run app.py` (as users run it), opens one session over Streamlit's websocket
(tests/wsclient.py: the app's own protocol without a browser), trains a run to its end on the Train page,
then for every page times a plain rerun and, for every control on it (the step slider, the example, the
unit order, the lab's sliders ...), a change of that control, alternating between its default and another value
(a select slider's end further from its default); for a select slider also a move to each of its other values once,
which no cache holds yet (a user scrubbing through training, or trying the lab's settings; the alternation soon
finds its two values cached). The lab is also timed at its largest setting (LAB_CORNER), where a new spectral
radius or input strength costs the most. Each
time is from the request to the server's "script finished": the server's work, the local socket's latency
(well under a millisecond) included. The bytes are everything the server sent for that rerun.

    python tools/latency.py                          # the default run, a charlm run, and T=200, H=256
    python tools/latency.py --runs default --repeat 10

Prints the cold start (spawning the server to the first chart) and one Markdown table per run. Other work on
the machine slows every figure: the last column of the header says how busy the machine was.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from browser import AppServer  # noqa: E402
from cpu import Others  # noqa: E402
from wsclient import Session  # noqa: E402

# name -> the Train page's address for that run (the app's query keys)
RUNS = {
    "default": "",  # adding, LSTM, T=50, H=64, 2000 steps
    "charlm": "task=charlm&steps=600",
    "large": "seq_len=200&hidden=256&steps=300",  # T=200, H=256
}
PAGES = ["train", "hidden_states", "gates", "gradients", "attention", "explore", "lab", "compare"]
CONTROL_KINDS = ("slider", "selectbox", "button_group")
SKIPPED = {"Language / 语言"}  # switching language is a page redraw, not a control of the page
DONE_WORDS = {"done", "stopped"}  # the first metric on the Train page once a run has ended
LAB_CORNER = {"Hidden size H": "256", "Sequence length T": "1000"}  # the RNN lab's largest walk: 1000 steps of 256 x 256


def wait_for_end(session: Session, timeout: float) -> None:
    """Redraw the Train page every second until its run has ended."""
    started = time.monotonic()
    while session.texts("metric")[:1] and session.texts("metric")[0] not in DONE_WORDS:
        if time.monotonic() - started > timeout:
            raise TimeoutError("the run did not end in time")
        time.sleep(1.0)
        session.run()


def timed(session: Session, action) -> tuple[float, int]:
    """Milliseconds and bytes of one rerun."""
    sent, begin = session.bytes, time.perf_counter()
    action()
    return (time.perf_counter() - begin) * 1000, session.bytes - sent


def two_values(kind: str, proto) -> tuple | None:
    """Two values to alternate between (the default first), or None for a control with a single choice."""
    if kind == "slider" and not proto.options:
        default = proto.default[0]
        other = proto.max if proto.max != default else proto.min
        return default, other
    options = [o.content for o in proto.options] if kind == "button_group" else list(proto.options)
    if len(options) < 2:
        return None
    defaults = list(proto.default) if kind in ("button_group", "slider") else [proto.default]
    first = options[int(defaults[0])] if defaults else options[0]  # a select slider holds its index as a float
    if kind == "slider":  # a select_slider: its default and the end further from it, as a user drags it
        return first, options[0] if defaults[0] >= len(options) / 2 else options[-1]
    return first, next(o for o in options if o != first)


def controls(session: Session) -> list[tuple[str, str]]:
    found = []
    for element in session.elements:
        kind = element.WhichOneof("type")
        if kind in CONTROL_KINDS and getattr(element, kind).label not in SKIPPED:
            found.append((kind, getattr(element, kind).label))
    return list(dict.fromkeys(found))


def summary(samples: list[tuple[float, int]]) -> dict:
    ms = np.array([s[0] for s in samples])
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "kb": statistics.mean(s[1] for s in samples) / 1000}


def measure_page(session: Session, page: str, repeat: int) -> list[dict]:
    first_ms, first_bytes = timed(session, lambda: session.open(page))
    rows = [{"page": page, "control": "first visit", "p50": first_ms, "p95": first_ms, "kb": first_bytes / 1000}]
    rows.append({"page": page, "control": "rerun", **summary([timed(session, session.run) for _ in range(repeat)])})
    if page == "train":
        return rows  # its settings change the next run, not what the page shows
    rows += measure_controls(session, page, controls(session), repeat)
    if page == "lab":
        for label, value in LAB_CORNER.items():
            session.choose("slider", label, value)
        corner = [("slider", label) for kind, label in controls(session) if kind == "slider" and label not in LAB_CORNER]
        where = ", ".join(f"{label.split()[-1]}={value}" for label, value in LAB_CORNER.items())
        rows += [{**row, "control": f"{row['control']} (at {where})"} for row in measure_controls(session, page, corner, repeat)]
    return rows


def measure_controls(session: Session, page: str, found: list[tuple[str, str]], repeat: int) -> list[dict]:
    """A row per control (kind, label) alternated between two values, and for a select slider one for its unseen values."""
    rows = []
    for kind, label in found:
        values = two_values(kind, session.widget(kind, label))
        if values is None:
            continue
        samples = [timed(session, lambda v=values[(i + 1) % 2]: session.choose(kind, label, v)) for i in range(repeat)]
        if repeat % 2:
            session.choose(kind, label, values[0])  # leave it as it was for the next control
        rows.append({"page": page, "control": label, **summary(samples)})
        unseen = unseen_values(kind, session.widget(kind, label), values, repeat)
        if unseen:  # what a user scrubbing through training meets: steps whose figures no cache holds yet
            samples = [timed(session, lambda v=v: session.choose(kind, label, v)) for v in unseen]
            session.choose(kind, label, values[0])
            rows.append({"page": page, "control": f"{label}, {len(unseen)} unseen values", **summary(samples)})
    return rows


def unseen_values(kind: str, proto, alternated: tuple, most: int) -> list:
    """Up to `most` of a select_slider's options that the alternation did not pick (none for other controls)."""
    if kind != "slider" or not proto.options:
        return []
    return [o for o in proto.options if o not in alternated][:most]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=list(RUNS))
    parser.add_argument("--repeat", type=int, default=20, help="reruns per page and per control")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=PAGES)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rnnviz-latency-"))
    print(f"{os.cpu_count()} cores; {args.repeat} repetitions per row; milliseconds from request to script end\n")

    begin = time.monotonic()
    server = AppServer(folder / "streamlit.log", env={"STREAMLIT_SERVER_FILE_WATCHER_TYPE": "none"})
    try:
        healthy = time.monotonic() - begin
        for name in args.runs:
            session = Session(server.url, RUNS[name])
            page_at = time.monotonic() - begin
            session.click("Train")
            if name == args.runs[0]:
                chart_at = time.monotonic() - begin
                has_chart = any(e.WhichOneof("type") == "plotly_chart" for e in session.elements)
                print(f"cold start: server healthy {healthy:.1f} s, first page {page_at:.1f} s, first chart "
                      f"{chart_at:.1f} s{'' if has_chart else ' (no chart drawn yet)'} after `streamlit run`\n")
            started = time.monotonic()
            wait_for_end(session, timeout=900)
            seconds = time.monotonic() - started
            others = Others().start()
            rows = [row for page in args.pages for row in measure_page(session, page, args.repeat)]
            busy = others.stop()
            print(f"### {name} ({RUNS[name] or 'the default settings'}): trained in {seconds:.0f} s; "
                  f"other processes used {busy:.2f} cores while measured\n")
            print("| page | control | p50 ms | p95 ms | kB per rerun |")
            print("|---|---|---|---|---|")
            for row in rows:
                print(f"| {row['page']} | {row['control']} | {row['p50']:.0f} | {row['p95']:.0f} | {row['kb']:.0f} |")
            worst = max((r for r in rows if r["control"] != "first visit"), key=lambda r: r["p95"])
            print(f"\nslowest p95: {worst['page']} / {worst['control']} {worst['p95']:.0f} ms\n", flush=True)
            session.close()
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

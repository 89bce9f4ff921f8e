"""Benchmark: steps/s of a plain fused PyTorch loop next to rnnviz's training as users run it, and the time of
one Trace.

Each cell (rnn, lstm, gru) at T=50 and T=100, H=128, B=64 on the adding task with Adam and clipping at 1.
"plain" is the loop any PyTorch user would write (forward, backward, clip_grad_norm_, step, loss.item()).
Beside it, the Trainer with a probe every 50 steps and its per-step bookkeeping, twice: "trainer" is
Trainer.run() in the calling thread, as `python -m rnnviz train` and notebooks run it; "background" is
BackgroundRun's start() then join(), a thread of the trainer's own, as the app runs it, on the app's share of torch threads
for one run (rnnviz/threads.py) unless --threads is given. The three alternate in blocks of PROBE_EVERY steps;
steps/s is each one's best block and a ratio the median of its rate / plain's over adjacent blocks, so a busy
machine favours none of them. Last, the command line end to end: a long `python -m rnnviz train` run minus a
short one (start-up, the final evaluation and saving cancel), against a plain loop of as many steps timed just
before.

Every block runs in a thread that ends with it (see in_thread), as the app's threads other than trainers hold
no OpenMP team. Targets on a CPU: trainer and command line >= 0.95 of plain, background >= 0.9 at the same
thread count, one Trace < 50 ms.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch

from .background import BackgroundRun
from .config import RunConfig
from .models import make_model
from .probe import load_weights, make_twin, record_trace
from .status import Status
from .tasks import make_task
from .threads import torch_threads_per_run
from .train import Trainer, describe_device, make_optimizer, pick_device

HIDDEN, BATCH, PROBE_EVERY = 128, 64, 50
ROUNDS = 3  # the blocks alternate at least this many times per setting
CLI_CELL, CLI_SEQ_LEN = "lstm", 50  # the command line's setting
CLI_SECONDS = 2  # the command line's long run trains about this many times --seconds longer than its short one


def _config(cell: str, seq_len: int, device: str) -> RunConfig:
    return RunConfig.from_flat({"task": "adding", "cell": cell, "seq_len": seq_len, "hidden": HIDDEN, "batch": BATCH,
                                "lr": 1e-3, "clip": 1.0, "device": device, "probe_every": PROBE_EVERY, "steps": 10**5})


def plain_step(cfg: RunConfig, device: torch.device):
    """One step of the loop any PyTorch user would write, as a function returning the loss."""
    task = make_task(cfg.task)
    model = make_model(cfg.model, task.io, seed=0).to(device)
    opt = make_optimizer("adam", model.parameters(), cfg.train.lr)  # the trainer's (fused): overheads compared alike
    gen = torch.Generator().manual_seed(0)

    def step() -> float:
        batch = task.sample(cfg.train.batch, gen).to(device)
        loss = task.loss(model(batch.x), batch.y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip)
        opt.step()
        return loss.item()  # the host sync every real loop has

    return step


class ThreadShare:
    """A training slot that does to threads what the app's does (rnnviz/ui/lifecycle.py): the trainer's own thread
    sets its torch threads before its first step. It never queues, and leaves the thread's CPU priority alone."""

    def __init__(self, threads: int):
        self.threads = threads

    def acquire(self, run) -> bool:
        torch.set_num_threads(self.threads)
        return True

    def release(self) -> None:
        pass


def in_thread(work: Callable, threads: int):
    """work() in a new thread on `threads` torch threads, returning what it returns. The thread ends with it, and
    with it the team of OpenMP threads it kept: while the threads kept in teams outnumber the cores, libgomp stops
    spin-waiting between ops and each op pays for putting its team to sleep and waking it (see rnnviz/threads.py),
    so a team kept by one loop would slow the next."""
    result: dict = {}

    def target():
        torch.set_num_threads(threads)
        try:
            result["value"] = work()
        except BaseException as err:  # noqa: BLE001 -- re-raised in the calling thread
            result["error"] = err

    thread = threading.Thread(target=target, name="rnnviz-bench")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _timed_plain(step: Callable, steps: int) -> float:
    """Steps/s of `steps` plain steps."""
    started = time.perf_counter()
    for _ in range(steps):
        step()
    return steps / (time.perf_counter() - started)


def _steps_to_probe(trainer: Trainer) -> int:
    return PROBE_EVERY - trainer.step % PROBE_EVERY  # up to the next probe step, where a run ends with a probe


def _timed_in_this_thread(trainer: Trainer) -> float:
    """Steps/s of one block of the trainer in the calling thread."""
    steps = _steps_to_probe(trainer)
    started = time.perf_counter()
    status = trainer.run(steps=trainer.step + steps)
    elapsed = time.perf_counter() - started
    _check_completed(status)
    return steps / elapsed


def _timed_in_background(run: BackgroundRun, share: ThreadShare) -> float:
    """Steps/s of one block of the trainer in a thread of its own, started and joined as the app does."""
    steps = _steps_to_probe(run.trainer)
    started = time.perf_counter()
    run.start(run.trainer.step + steps, slot=share)
    run.join()
    elapsed = time.perf_counter() - started
    _check_completed(run.snapshot().status)
    return steps / elapsed


def _check_completed(status: Status) -> None:
    if status.kind != "completed":
        raise RuntimeError(f"trainer did not complete: {status}")


def compare(cfg: RunConfig, device: torch.device, seconds: float, threads: int, background_threads: int) -> dict:
    """Steps/s of plain, trainer (both on `threads` torch threads) and background, each in its best block, and
    trainer and background as the median over rounds of their rate / plain's in adjacent blocks. The three
    alternate in blocks of about PROBE_EVERY steps (each trainer block ends on a probe) until plain has run
    `seconds` and at least ROUNDS rounds: other work on the machine then slows all alike, and pairing adjacent
    blocks cancels its drift."""
    step = plain_step(cfg, device)
    trainer, background, share = Trainer(cfg), BackgroundRun(Trainer(cfg)), ThreadShare(background_threads)
    in_thread(lambda: _timed_plain(step, 5), threads)  # warm-up: allocator, cuDNN plans
    in_thread(lambda: trainer.run(steps=5), threads)  # warm-up, and the step-0 probe every run starts with
    background.start(5, slot=share)
    background.join()
    rates: dict[str, list[float]] = {"plain": [], "trainer": [], "background": []}
    spent = 0.0  # seconds of plain steps
    while len(rates["plain"]) < ROUNDS or spent < seconds:
        rates["plain"].append(in_thread(lambda: _timed_plain(step, PROBE_EVERY), threads))
        spent += PROBE_EVERY / rates["plain"][-1]
        rates["trainer"].append(in_thread(lambda: _timed_in_this_thread(trainer), threads))
        rates["background"].append(_timed_in_background(background, share))
    result = {f"{name}_steps_per_s": round(max(rates[name]), 2) for name in rates}
    for name in ("trainer", "background"):
        ratio = statistics.median([r / p for p, r in zip(rates["plain"], rates[name])])
        result[f"{name}_ratio"] = round(ratio, 3)
    return result


def cli_train_seconds(device_name: str, steps: int, threads: int) -> float:
    """Wall seconds of `python -m rnnviz train` in the bench's setting for CLI_CELL and CLI_SEQ_LEN, in a fresh
    process on `threads` torch threads."""
    package_root = str(Path(__file__).resolve().parents[1])  # so that the child runs this rnnviz
    search_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": search_path, "OMP_NUM_THREADS": str(threads)}
    with tempfile.TemporaryDirectory() as tmp:
        argv = [sys.executable, "-m", "rnnviz", "train", "--task", "adding", "--cell", CLI_CELL,
                "--seq-len", str(CLI_SEQ_LEN), "--hidden", str(HIDDEN), "--batch", str(BATCH), "--lr", "1e-3",
                "--clip", "1", "--probe-every", str(PROBE_EVERY), "--device", device_name, "--steps", str(steps),
                "--out", str(Path(tmp) / "run")]
        started = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:] or ["no message"]
        raise RuntimeError(f"python -m rnnviz train failed: {last[0]}")
    return elapsed


def compare_cli(device: torch.device, seconds: float, threads: int, plain_rate: float) -> dict:
    """The command line's steps/s on `threads` torch threads, a long run minus a short one, and its ratio to a plain
    loop of as many steps timed just before. The long run trains about CLI_SECONDS * seconds longer (whole probe
    intervals, estimated from plain_rate, the plain loop's steps/s in this setting)."""
    blocks = max(2, round(CLI_SECONDS * seconds * plain_rate / PROBE_EVERY))
    short, extra = PROBE_EVERY, blocks * PROBE_EVERY
    step = plain_step(_config(CLI_CELL, CLI_SEQ_LEN, device.type), device)

    def warm_then_time() -> float:
        _timed_plain(step, 5)
        return _timed_plain(step, extra)

    plain = in_thread(warm_then_time, threads)
    cli = extra / (cli_train_seconds(device.type, short + extra, threads) - cli_train_seconds(device.type, short, threads))
    return {"cell": CLI_CELL, "seq_len": CLI_SEQ_LEN, "steps": [short, short + extra], "plain_steps_per_s": round(plain, 2),
            "cli_steps_per_s": round(cli, 2), "ratio": round(cli / plain, 3)}


def trace_milliseconds(device_name: str, repeats: int = 7) -> float:
    """Median time of one full Trace (weights copied to the twin, unrolled forward and all dL/dh_t):
    LSTM, T=100, H=HIDDEN, B=8."""
    cfg = _config("lstm", 100, device_name)
    task = make_task(cfg.task)
    model = make_model(cfg.model, task.io, seed=0).to(pick_device(device_name))
    twin = make_twin(model)
    batch = task.sample(8, torch.Generator().manual_seed(0))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load_weights(twin, model)
        record_trace(twin, task, batch)
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times[1:])


def run(device_name: str = "auto", seconds: float = 2.0, out=None, threads: int | None = None) -> dict:
    """threads: torch threads of every loop (default: torch's own choice, and for background the app's share for
    one run)."""
    out = out or sys.stdout  # looked up now, so a redirected stdout is honoured
    device = pick_device(device_name)
    loop_threads = {"plain": threads or torch.get_num_threads(), "background": threads or torch_threads_per_run(1)}
    described = in_thread(lambda: describe_device(device), loop_threads["plain"])  # "CPU · 2 threads", as the loops run
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # this thread builds models and waits; the loops run in threads of their own
    try:
        return _run(device, described, seconds, out, loop_threads)
    finally:
        torch.set_num_threads(previous)


def _run(device: torch.device, described: str, seconds: float, out, threads: dict) -> dict:
    print(f"rnnviz bench on {described}: adding task, H={HIDDEN}, B={BATCH}, Adam, clip 1, "
          f"trainer probes every {PROBE_EVERY} steps", file=out)
    if device.type == "cpu":
        print(f"torch threads: {threads['plain']} for plain, trainer and the command line; {threads['background']} "
              f"for background (the app's share for one run, unless --threads)", file=out)
    print(f"{'cell':5s} {'T':>4s} {'plain steps/s':>14s} {'trainer steps/s':>16s} {'ratio':>6s} "
          f"{'background steps/s':>19s} {'ratio':>6s}", file=out)
    rows = []
    for cell in ("rnn", "lstm", "gru"):
        for seq_len in (50, 100):
            row = {"cell": cell, "seq_len": seq_len, **compare(_config(cell, seq_len, device.type), device, seconds,
                                                                 threads["plain"], threads["background"])}
            rows.append(row)
            print(f"{cell:5s} {seq_len:4d} {row['plain_steps_per_s']:14.1f} {row['trainer_steps_per_s']:16.1f} "
                  f"{row['trainer_ratio']:6.2f} {row['background_steps_per_s']:19.1f} {row['background_ratio']:6.2f}",
                  file=out, flush=True)
    plain_rate = next(r["plain_steps_per_s"] for r in rows if (r["cell"], r["seq_len"]) == (CLI_CELL, CLI_SEQ_LEN))
    cli = compare_cli(device, seconds, threads["plain"], plain_rate)
    print(f"command line ({CLI_CELL}, T={CLI_SEQ_LEN}: a {cli['steps'][1]}-step run minus a {cli['steps'][0]}-step "
          f"one): {cli['cli_steps_per_s']:.1f} steps/s against plain {cli['plain_steps_per_s']:.1f}, "
          f"ratio {cli['ratio']:.2f}", file=out, flush=True)
    trace_ms = in_thread(lambda: trace_milliseconds(device.type), threads["plain"])
    print(f"one Trace (LSTM, T=100, H={HIDDEN}, B=8, on the CPU twin): {trace_ms:.1f} ms", file=out)
    return {"device": described, "hidden": HIDDEN, "batch": BATCH, "threads": threads, "rows": rows,
            "cli": cli, "trace_ms": round(trace_ms, 2)}


def main(device_name: str = "auto", seconds: float = 2.0, json_path: str | None = None, threads: int | None = None) -> int:
    if not seconds > 0:
        raise ValueError(f"--seconds must be above 0, got {seconds!r}")
    if threads is not None and not 1 <= threads <= 1024:
        raise ValueError(f"--threads must be between 1 and 1024, got {threads}")
    result = run(device_name, seconds, threads=threads)
    text = json.dumps(result, indent=2)
    print(text)
    if json_path:
        with open(json_path, "w") as f:
            f.write(text + "\n")
    return 0

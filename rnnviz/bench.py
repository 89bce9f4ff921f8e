"""Benchmark: steps/s of a plain fused PyTorch loop next to the Trainer, and the time of one Trace.

Each cell (rnn, lstm, gru) at T=50 and T=100, H=128, B=64 on the adding task with Adam and
clipping at 1. "plain" is the loop any PyTorch user would write (forward, backward,
clip_grad_norm_, step, loss.item()); "trainer" is rnnviz's Trainer with a probe every 50 steps and
its per-step bookkeeping. The two alternate in blocks of PROBE_EVERY steps; steps/s is each one's best
block and the ratio the median of trainer / plain over adjacent blocks, so a busy machine does not
favour either. Targets on a CPU: ratio >= 0.9, one Trace < 50 ms.
"""
from __future__ import annotations

import json
import statistics
import sys
import time

import torch

from .config import RunConfig
from .models import make_model
from .probe import load_weights, make_twin, record_trace
from .tasks import make_task
from .train import Trainer, describe_device, pick_device

HIDDEN, BATCH, PROBE_EVERY = 128, 64, 50
ROUNDS = 3  # plain and trainer blocks alternate at least this many times per setting


def _config(cell: str, seq_len: int, device: str, batch: int = BATCH) -> RunConfig:
    return RunConfig.from_flat({"task": "adding", "cell": cell, "seq_len": seq_len, "hidden": HIDDEN, "batch": batch,
                                "lr": 1e-3, "clip": 1.0, "device": device, "probe_every": PROBE_EVERY, "steps": 10**5})


def plain_step(cfg: RunConfig, device: torch.device):
    """One step of the loop any PyTorch user would write, as a function returning the loss."""
    task = make_task(cfg.task)
    model = make_model(cfg.model, task.io, seed=0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
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


def compare(cfg: RunConfig, device: torch.device, seconds: float) -> tuple[float, float, float]:
    """(plain, trainer, ratio): each loop's steps/s in its best block, and the median over rounds of
    trainer / plain in adjacent blocks. The two alternate in blocks of about PROBE_EVERY steps (each trainer
    block ends on a probe) until plain has run `seconds` and at least ROUNDS rounds: other work on the
    machine then slows both alike, and pairing adjacent blocks cancels its drift."""
    step = plain_step(cfg, device)
    trainer = Trainer(cfg)
    for _ in range(5):  # warm-up: allocator, cuDNN plans
        step()
    trainer.run(steps=5)  # warm-up, and the step-0 probe every run starts with
    plain_rates, trainer_rates, spent = [], [], 0.0
    while len(plain_rates) < ROUNDS or spent < seconds:
        started = time.perf_counter()
        for _ in range(PROBE_EVERY):
            step()
        elapsed = time.perf_counter() - started
        spent += elapsed
        plain_rates.append(PROBE_EVERY / elapsed)
        steps = PROBE_EVERY - trainer.step % PROBE_EVERY  # up to the next probe step, where run() ends with a probe
        started = time.perf_counter()
        status = trainer.run(steps=trainer.step + steps)
        if status.kind != "completed":
            raise RuntimeError(f"trainer did not complete: {status}")
        trainer_rates.append(steps / (time.perf_counter() - started))
    ratio = statistics.median([t / p for p, t in zip(plain_rates, trainer_rates)])
    return max(plain_rates), max(trainer_rates), ratio


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


def run(device_name: str = "auto", seconds: float = 2.0, out=None) -> dict:
    out = out or sys.stdout  # looked up now, so a redirected stdout is honoured
    device = pick_device(device_name)
    rows = []
    print(f"rnnviz bench on {describe_device(device)}: adding task, H={HIDDEN}, B={BATCH}, Adam, clip 1, "
          f"trainer probes every {PROBE_EVERY} steps", file=out)
    print(f"{'cell':5s} {'T':>4s} {'plain steps/s':>14s} {'trainer steps/s':>16s} {'ratio':>6s}", file=out)
    for cell in ("rnn", "lstm", "gru"):
        for seq_len in (50, 100):
            cfg = _config(cell, seq_len, device.type)
            plain, trainer, ratio = compare(cfg, device, seconds)
            rows.append({"cell": cell, "seq_len": seq_len, "plain_steps_per_s": round(plain, 2),
                         "trainer_steps_per_s": round(trainer, 2), "ratio": round(ratio, 3)})
            print(f"{cell:5s} {seq_len:4d} {plain:14.1f} {trainer:16.1f} {ratio:6.2f}", file=out, flush=True)
    trace_ms = trace_milliseconds(device.type)
    print(f"one Trace (LSTM, T=100, H={HIDDEN}, B=8, on the CPU twin): {trace_ms:.1f} ms", file=out)
    return {"device": describe_device(device), "hidden": HIDDEN, "batch": BATCH, "rows": rows, "trace_ms": round(trace_ms, 2)}


def main(device_name: str = "auto", seconds: float = 2.0, json_path: str | None = None, threads: int | None = None) -> int:
    if not seconds > 0:
        raise ValueError(f"--seconds must be above 0, got {seconds!r}")
    if threads is not None:
        if not 1 <= threads <= 1024:
            raise ValueError(f"--threads must be between 1 and 1024, got {threads}")
        torch.set_num_threads(threads)
    result = run(device_name, seconds)
    text = json.dumps(result, indent=2)
    print(text)
    if json_path:
        with open(json_path, "w") as f:
            f.write(text + "\n")
    return 0

"""Trainer: the synchronous core of a run. The fused training loop, with exact probes on an unrolled CPU twin
every `probe_every` steps.

Training runs on the fused torch.nn layer (cuDNN on a GPU, fast C++ on a CPU). Each step costs
one device sync: loss, global gradient norm, accuracy and every parameter's gradient norm come
back to the host together. Probes copy the weights into the unrolled twin (probe.py) and run it on
a fixed probe batch; they are skipped while they would take more than `PROBE_TIME_FRACTION` of the
wall time, so they never slow training down much.

The core is synchronous: `train_step()`, `run()`, `probe()`, `evaluate()`, `stop()` and `load_state_dict()` belong
to the one thread that trains it, and callbacks (`add_callback`, as in minGPT) run in that thread between two
steps. rnnviz.background.BackgroundRun trains a Trainer in a thread of its own, with pause / resume / stop from
other threads. From any thread `snapshot()`, `trace_at()`, `copy_model()`, `held()` and `set_lr()` (a pending
value read between steps) are safe: everything the loop writes that a snapshot reads is guarded by one lock.
"""
from __future__ import annotations

import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np
import torch

from .config import RunConfig, check_range
from .models import SeqModel, make_model
from .probe import Trace, load_weights, make_twin, record_trace, summarize
from .status import Status
from .tasks import Batch, Task, check_batch, check_compatible, make_task

PROBE_TIME_FRACTION = 0.05  # probes may take at most this share of the training wall time
EARLY_STEPS = 50  # probes up to this step ignore that share: measured over so little time it means nothing yet,
# and an exploding run is all early steps (the exploding preset stops near step 31, probed every 2)
TRACE_BUDGET_BYTES = 64 * 2**20  # full Traces kept per run; older ones are thinned beyond this
PROBE_SEED_OFFSET, EVAL_SEED_OFFSET = 1_000_003, 2_000_003  # separate data streams from one seed
EVENTS = ("on_step", "on_probe")  # on_step(trainer, entry: dict) after each step, on_probe(trainer, trace) after each probe


def pick_device(name: str = "auto") -> torch.device:
    """auto: cuda, then mps, then cpu. An unavailable explicit choice is a ValueError."""
    has_mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for but this machine has no CUDA GPU (use --device auto or cpu)")
    if name == "mps" and not has_mps:
        raise ValueError("device mps was asked for but this machine has no Apple GPU (use --device auto or cpu)")
    return torch.device(name)


def describe_device(device: torch.device, threads: int | None = None) -> str:
    """For people: "CUDA · NVIDIA H100 80GB HBM3", "MPS · Apple GPU", "CPU · 2 threads" (threads, by default the
    calling thread's torch threads)."""
    if device.type == "cuda":
        return f"CUDA · {torch.cuda.get_device_name(device)}"
    if device.type == "mps":
        return "MPS · Apple GPU"
    threads = torch.get_num_threads() if threads is None else threads
    return f"CPU · {threads} thread{'s' if threads > 1 else ''}"


def make_optimizer(name: str, params, lr: float, momentum: float = 0.9) -> torch.optim.Optimizer:
    """The optimizer, in torch's fused form (one kernel for all weights) where it has one, else its multi-tensor
    form. torch's default on the CPU updates weight by weight, a few small ops each: that cost 13 % of a default
    run's step (adding, LSTM, T=50, H=64; 4.6 against 4.1 ms CPU), and every op hands Python's interpreter lock
    back and forth, which on a busy server waits behind the threads that draw pages."""
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, fused=True)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=True)


@dataclass
class History:
    """One entry per training step (the last entry may be the non-finite step that stopped the run)."""

    step: list = field(default_factory=list)  # step number, starting at 1
    loss: list = field(default_factory=list)  # training batch loss
    grad_norm: list = field(default_factory=list)  # global gradient norm before clipping
    clipped: list = field(default_factory=list)  # True where clipping rescaled the gradient
    lr: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)  # training batch accuracy, nan for regression
    time: list = field(default_factory=list)  # seconds of training (pauses excluded) when this step began
    param_norms: dict = field(default_factory=dict)  # parameter name -> gradient norm per step
    _cache: dict = field(default_factory=dict, repr=False, compare=False)  # column -> (its list, as numpy)

    COLUMNS = ("step", "loss", "grad_norm", "clipped", "lr", "accuracy", "time")

    def __len__(self) -> int:
        return len(self.step)

    def arrays(self) -> dict[str, np.ndarray | dict[str, np.ndarray]]:
        """Every column as a numpy array of its own (the caller may keep it while training goes on); param_norms
        as a dict of them, parameter name -> (N,)."""
        dtypes = {"step": np.int64, "clipped": bool}
        out: dict[str, np.ndarray | dict[str, np.ndarray]] = {
            name: self._array(name, getattr(self, name), dtypes.get(name, np.float32)) for name in self.COLUMNS}
        out["param_norms"] = {k: self._array(f"param.{k}", v, np.float32) for k, v in self.param_norms.items()}
        return out

    def _array(self, key: str, values: list, dtype) -> np.ndarray:
        """np.asarray(values), converting only the entries appended since the last call: live views ask for the
        whole history twice a second, and converting 100k Python floats each time held the trainer's lock for
        tens of milliseconds. A list replaced wholesale (a restored run) is converted afresh."""
        source, done = self._cache.get(key, (None, np.zeros(0, dtype)))
        if source is not values or len(done) > len(values):
            done = np.zeros(0, dtype)
        done = np.concatenate([done, np.asarray(values[len(done):], dtype=dtype)])  # a new array: safe to hand out
        self._cache[key] = (values, done)
        return done


@dataclass
class Snapshot:
    """A consistent copy of a trainer's state for another thread to draw."""

    step: int
    target_steps: int
    status: Status
    lr: float
    elapsed: float  # seconds of training, probes included, pauses excluded
    steps_per_second: float
    history: dict  # History.arrays()
    probes: list[dict]  # summarize() of every probe so far, oldest first
    trace: Trace | None  # the latest full Trace
    trace_steps: list[int]  # steps whose full Traces are kept (see Trainer.trace_at)
    threads: int  # torch CPU threads of the thread that trains (or last trained) the run
    device: torch.device  # where it trains


class RunReader(Protocol):
    """What a page or a report reads of a run, a Trainer or a BackgroundRun alike: the config, the task (what it is
    and how it is shown; never its data stream) and the fixed probe batch, none of which change once the run is
    built, and copies taken under the run's locks."""

    @property
    def cfg(self) -> RunConfig: ...

    @property
    def task(self) -> Task: ...

    @property
    def probe_batch(self) -> Batch: ...

    def snapshot(self) -> Snapshot: ...

    def trace_at(self, step: int) -> Trace | None: ...

    def copy_model(self, unrolled: bool = True) -> tuple[SeqModel, int]: ...


class Trainer:
    def __init__(self, cfg: RunConfig, task: Task | None = None, model: SeqModel | None = None,
                 probe_fraction: float | None = None):
        """Builds the task, model and optimizer; nothing runs until run().
        probe_fraction: the share of wall time probes may take (default PROBE_TIME_FRACTION); 1.0 or more
        probes exactly every probe_every steps, as side-by-side comparisons need."""
        self.cfg = cfg
        t = cfg.train
        self.task = task or make_task(cfg.task)
        check_compatible(cfg)
        check_batch(t.batch, self.task.windows)
        self.device = pick_device(t.device)
        self.threads = torch.get_num_threads()  # until training starts in its own thread (see run)
        self.device_name = describe_device(self.device)
        self.model = (model or make_model(cfg.model, self.task.io, seed=t.seed)).to(self.device)
        self.params = dict(self.model.named_parameters())
        self.optimizer = make_optimizer(t.optimizer, self.params.values(), t.lr, t.momentum)
        self.data_gen = torch.Generator().manual_seed(t.seed)  # the training data stream
        self.probe_batch = self.task.sample(t.probe_batch, torch.Generator().manual_seed(t.seed + PROBE_SEED_OFFSET), "val")
        self.twin = make_twin(self.model)
        self._callbacks: dict[str, list[Callable]] = {event: [] for event in EVENTS}
        self.probe_fraction = PROBE_TIME_FRACTION if probe_fraction is None else probe_fraction
        self.history = History(param_norms={name: [] for name in self.params})
        self.probes: list[dict] = []
        self.traces: list[Trace] = []
        self.step = 0
        self.target_steps = t.steps
        self.elapsed = 0.0  # training wall seconds, probes included, pauses excluded
        self.probe_seconds = 0.0  # CPU seconds of this thread spent in counted probes
        self.cpu_seconds = 0.0  # CPU seconds of the training thread in steps and probes
        self.status = Status("ready")
        self.lr = t.lr
        self._lock = threading.Lock()  # guards what snapshot() reads
        self._step_lock = threading.Lock()  # held for each step and probe; see held()
        self._stop_reason: str | None = None  # set by stop(): run() ends before its next step
        self._pending_lr: float | None = None
        self._backup = [p.detach().clone() for p in self.params.values()]  # weights before the latest update

    # ---- callbacks and requests -----------------------------------------------------------------
    def add_callback(self, event: str, callback: Callable) -> None:
        """Call callback in the training thread: on_step(trainer, entry) after every step, on_probe(trainer, trace)
        after every probe (see EVENTS), in the order they were added. One that raises stops the run with the
        status error."""
        if event not in self._callbacks:
            raise ValueError(f"unknown event {event!r}: one of {', '.join(EVENTS)}")
        self._callbacks[event].append(callback)

    def _trigger(self, event: str, value) -> None:
        for callback in self._callbacks[event]:
            callback(self, value)

    def stop(self, reason: str = "user") -> None:
        """End run() before its next step; call it in the training thread (a callback). reason (a status.REASONS,
        e.g. "disconnected") says why. Other threads stop a BackgroundRun."""
        self._stop_reason = reason

    def set_lr(self, lr: float) -> None:
        """The learning rate from the next step on; safe from any thread (a value read between steps)."""
        if isinstance(lr, bool) or not isinstance(lr, (int, float)):
            raise ValueError(f"learning rate must be a number, got {lr!r}")
        check_range("lr", lr, "learning rate")  # the same limits as the config's
        self._pending_lr = float(lr)

    # ---- reading, safe from any thread ----------------------------------------------------------
    @contextmanager
    def held(self) -> Iterator[Trainer]:
        """Keep training between two steps for the duration, e.g. to save a consistent copy."""
        with self._step_lock:
            yield self

    def snapshot(self) -> Snapshot:
        with self._lock:
            return Snapshot(
                step=self.step, target_steps=self.target_steps, status=self.status, lr=self.lr,
                elapsed=self.elapsed, steps_per_second=self.steps_per_second,
                history=self.history.arrays(), probes=list(self.probes),
                trace=self.traces[-1] if self.traces else None, trace_steps=[tr.step for tr in self.traces],
                threads=self.threads, device=self.device)

    def trace_at(self, step: int) -> Trace | None:
        """The kept full Trace nearest to step."""
        with self._lock:
            if not self.traces:
                return None
            return min(self.traces, key=lambda tr: abs(tr.step - step))

    def copy_model(self, unrolled: bool = True) -> tuple[SeqModel, int]:
        """A CPU copy of the model as it is now, and its step: the unrolled twin (it records every state) or the
        fused model. Training waits while the weights are copied; the copy is the caller's to run."""
        with self._step_lock:
            if unrolled:
                return make_twin(self.model), self.step
            copy = make_model(self.cfg.model, self.task.io, seed=0)  # seeded: leaves the global RNG alone
            load_weights(copy, self.model)
            return copy, self.step

    @property
    def steps_per_second(self) -> float:
        return len(self.history) / self.elapsed if self.elapsed > 0 else 0.0

    # ---- the loop -------------------------------------------------------------------------------
    def run(self, steps: int | None = None) -> Status:
        """Train in the calling thread until `steps` in total (default: the config's), stop(), or a non-finite
        value. Returns the final status. Never raises: an unexpected error (a callback's too) becomes the status."""
        self._stop_reason = None
        with self._lock:
            if steps is not None:
                self.target_steps = steps
            self.status = Status("running")
            self.threads = torch.get_num_threads()  # torch's CPU threads are per thread: the training thread's count
            self.device_name = describe_device(self.device)
        try:
            if not self.probes:
                self.probe(counted=False)  # the untrained model, step 0: not part of the training's time budget
            while self.step < self.target_steps:
                if self._stop_reason is not None:
                    self._set_status(Status.stopped(self._stop_reason, self.step))
                    return self.status
                started, cpu_started = time.perf_counter(), time.thread_time()
                with self._step_lock:
                    entry = self.train_step()
                    if entry is not None and self._probe_due():
                        self.probe()
                    elif entry is None:
                        self.probe(counted=False)  # the last finite weights, whose gradient blew up
                self.elapsed += time.perf_counter() - started  # wall time while running, probes included
                self.cpu_seconds += time.thread_time() - cpu_started
                if entry is None:
                    return self.status
                self._trigger("on_step", entry)
            if self.probes[-1]["step"] != self.step:
                self.probe()
            self._set_status(Status("completed"))
        except Exception as err:  # noqa: BLE001 -- the caller (a UI thread) must never see a traceback
            self._set_status(Status.stopped("error", self.step, f"{type(err).__name__}: {err}"))
        return self.status

    def _set_status(self, status: Status) -> None:
        with self._lock:
            self.status = status

    def _probe_due(self) -> bool:
        """Every probe_every steps, unless probes have already taken their share of the time. Shares are of this
        thread's CPU time, not wall time: waiting for a core or the GIL (other tabs training) slows an unrolled
        probe far more than a fused step, and would otherwise starve probes on a busy server."""
        on_schedule = self.step % self.cfg.train.probe_every == 0 and self.step < self.target_steps
        within_share = self.probe_seconds <= self.probe_fraction * self.cpu_seconds
        return on_schedule and (self.step <= EARLY_STEPS or self.probe_fraction >= 1 or within_share)

    def train_step(self) -> dict | None:
        """One optimizer step, without a probe (run() probes on schedule). Returns the history entry, or None when a
        non-finite value stopped the run."""
        if self._pending_lr is not None:
            self.lr, self._pending_lr = self._pending_lr, None
            for group in self.optimizer.param_groups:
                group["lr"] = self.lr
        batch = self.task.sample(self.cfg.train.batch, self.data_gen).to(self.device)
        pred = self.model(batch.x, batch.dec_in, batch.mask)
        loss = self.task.loss(pred, batch.y)
        accuracy = self.task.accuracy(pred.detach(), batch.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        params = list(self.params.values())
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        norms = torch._foreach_norm(grads)  # one norm per parameter
        total = torch.linalg.vector_norm(torch.stack(norms))
        clip = self.cfg.train.clip
        if clip > 0:  # rescale like clip_grad_norm_, without a host sync
            torch._foreach_mul_(grads, (clip / (total + 1e-6)).clamp(max=1.0))
        acc = accuracy if accuracy is not None else torch.tensor(float("nan"), device=self.device)
        stats = torch.stack([loss.detach(), total, acc, *norms]).float().cpu().tolist()  # the step's one sync
        loss_v, total_v, acc_v, param_v = stats[0], stats[1], stats[2], stats[3:]
        finite = math.isfinite(loss_v) and math.isfinite(total_v)
        if finite:
            torch._foreach_copy_(self._backup, [p.detach() for p in params])
            self.optimizer.step()
        entry = {"step": self.step + 1, "loss": loss_v, "grad_norm": total_v, "clipped": bool(clip > 0 and total_v > clip),
                 "lr": self.lr, "accuracy": acc_v, "time": self.elapsed}
        with self._lock:
            for name in History.COLUMNS:
                getattr(self.history, name).append(entry[name])
            for name, value in zip(self.params, param_v):
                self.history.param_norms[name].append(value)
            self.step += 1
            if not finite:
                # the weights stay the last finite ones (see _restore_finite_weights)
                self.status = Status.stopped("non_finite", self.step, "loss" if not math.isfinite(loss_v) else "gradient")
        if not finite:
            self._restore_finite_weights()
            return None
        return entry

    @torch.no_grad()
    def _restore_finite_weights(self) -> None:
        params: list[torch.Tensor] = list(self.params.values())
        if not all(torch.isfinite(p).all() for p in params):
            torch._foreach_copy_(params, self._backup)

    # ---- probes and evaluation ------------------------------------------------------------------
    def probe(self, counted: bool = True) -> Trace:
        """Record a Trace of the current weights on the fixed probe batch and keep its summary.
        counted: its CPU time goes against the probes' share (see _probe_due)."""
        started = time.thread_time()
        load_weights(self.twin, self.model)
        trace = record_trace(self.twin, self.task, self.probe_batch, self.step)
        summary = summarize(trace, self.twin)
        with self._lock:
            self.probes.append(summary)
            self.traces.append(trace)
            self._thin_traces()
        if counted:
            self.probe_seconds += time.thread_time() - started
        self._trigger("on_probe", trace)
        return trace

    def _thin_traces(self) -> None:
        """Keep full Traces within TRACE_BUDGET_BYTES by dropping every other one (first and last stay)."""
        while len(self.traces) > 2 and sum(tr.nbytes for tr in self.traces) > TRACE_BUDGET_BYTES:
            self.traces = self.traces[:-1:2] + [self.traces[-1]]

    @torch.no_grad()
    def evaluate(self, n: int = 1000, chunk: int = 250) -> dict:
        """Mean loss and accuracy (None for regression) on n fresh examples from a fixed stream."""
        gen = torch.Generator().manual_seed(self.cfg.train.seed + EVAL_SEED_OFFSET)
        total_loss, total_acc, seen = 0.0, 0.0, 0
        while seen < n:
            size = min(chunk, n - seen)
            batch = self.task.sample(size, gen, "val").to(self.device)
            pred = self.model(batch.x, batch.dec_in, batch.mask)
            total_loss += float(self.task.loss(pred, batch.y)) * size
            acc = self.task.accuracy(pred, batch.y)
            total_acc += float(acc) * size if acc is not None else 0.0
            seen += size
        return {"loss": total_loss / n, "accuracy": total_acc / n if self.task.loss_kind != "mse" else None}

    # ---- state ----------------------------------------------------------------------------------
    STATE_KEYS = ("model", "optimizer", "data_gen", "history", "probes", "step", "target_steps", "elapsed", "lr",
                  "status")

    def state_dict(self) -> dict:
        """Everything a run needs to go on where it is: weights and optimizer state (torch's own state dicts, whose
        tensors are the live ones, as torch.nn's are), the data generator's state, the history and probe summaries
        (copies), step, target_steps, elapsed seconds, learning rate and status. Take it under held() while another
        thread trains."""
        with self._lock:
            history: dict = {name: list(getattr(self.history, name)) for name in History.COLUMNS}
            history["param_norms"] = {name: list(values) for name, values in self.history.param_norms.items()}
            return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                    "data_gen": self.data_gen.get_state(), "history": history, "probes": list(self.probes),
                    "step": self.step, "target_steps": self.target_steps, "elapsed": self.elapsed, "lr": self.lr,
                    "status": self.status}

    def load_state_dict(self, state: dict) -> None:
        """Go on from a state_dict() of a run of the same config (every STATE_KEYS key; rnnviz.runs checks a saved
        one first). The learning rate becomes every parameter group's. The kept Traces go (they showed other
        weights): the next probe records one. Not while this trainer trains. Raises ValueError for a history that is
        not `step` long, and what torch's load_state_dict and Generator.set_state raise."""
        missing = sorted(set(self.STATE_KEYS) - set(state))
        if missing:
            raise KeyError(f"a trainer's state needs {', '.join(missing)}")
        history = state["history"]
        restored = History(param_norms={name: list(history["param_norms"][name]) for name in self.params})
        for name in History.COLUMNS:
            setattr(restored, name, list(history[name]))
        if len(restored) != state["step"]:
            raise ValueError(f"the history has {len(restored)} steps, but the state is at step {state['step']}")
        with self._step_lock:
            self.model.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.data_gen.set_state(state["data_gen"])
            with self._lock:
                self.history, self.probes, self.traces = restored, list(state["probes"]), []
                self.step, self.target_steps = state["step"], state["target_steps"]
                self.elapsed, self.lr, self.status = float(state["elapsed"]), float(state["lr"]), state["status"]
                for group in self.optimizer.param_groups:
                    group["lr"] = self.lr
            torch._foreach_copy_(self._backup, [p.detach() for p in self.params.values()])

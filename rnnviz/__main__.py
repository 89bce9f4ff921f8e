"""Command line: `python -m rnnviz train | probe | report | bench | tasks`.

Bad options and unreadable files exit with code 2 and one line on stderr, never a traceback. `train` trains in
the calling thread, at the speed of a plain PyTorch loop (see bench.py), and checks that it can write its
results before it trains: it refuses to overwrite a saved run unless --force is given.
"""
from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .tasks import REGISTRY, resolve_config


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line instead of argparse's usage block
        raise CliError(message)


def _add_train_options(p: argparse.ArgumentParser) -> None:
    """Every option defaults to None, meaning: the task's default, else the config's."""
    add = p.add_argument
    add("--task", required=True, help=f"one of: {', '.join(REGISTRY)}")
    add("--cell", help="rnn, lstm, gru or transformer")
    add("--nonlinearity", help="tanh or relu (rnn only)")
    add("--hidden", type=int)
    add("--layers", type=int)
    add("--bidirectional", action="store_true", default=None,
        help="rnn, lstm, gru: a second layer reads each sequence backwards (not on next-step or encoder-decoder tasks)")
    add("--heads", type=int, help="transformer attention heads (1-4); they must divide --hidden")
    add("--seq-len", type=int, dest="seq_len")
    add("--variant", help="task-specific choice, e.g. parity final|running, charlm brackets|stdlib")
    add("--steps", type=int)
    add("--batch", type=int)
    add("--lr", type=float)
    add("--optimizer", help="adam, rmsprop or sgd")
    add("--clip", type=float, help="clip the gradient's global norm at this value; 0 = off")
    add("--init", help="default, orthogonal or identity")
    add("--init-gain", type=float, dest="init_gain", help="rho: gain of orthogonal/identity W_hh")
    add("--forget-bias", type=float, dest="forget_bias")
    add("--attention", help="none, dot or additive")
    add("--seed", type=int)
    add("--device", help="auto, cpu, cuda or mps")
    add("--probe-every", type=int, dest="probe_every")
    add("--data", help="your text file (charlm) or CSV (sine)")
    add("--column", help="CSV column for sine (default: the first numeric one)")
    add("--out", required=True, help="directory for run.json and model.safetensors")
    add("--force", action="store_true", help="overwrite the run already saved in --out")


def build_parser() -> Parser:
    parser = Parser(prog="python -m rnnviz", description="Train small recurrent networks and look inside them.")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_train_options(sub.add_parser("train", help="train a model and save the run"))
    probe = sub.add_parser("probe", help="record a Trace of a saved run on fresh data")
    probe.add_argument("run_dir")
    probe.add_argument("--out", required=True, help="the .npz file to write")
    probe.add_argument("--batch", type=int, default=8)
    probe.add_argument("--seed", type=int, default=0)
    report = sub.add_parser("report", help="write one standalone HTML file of a saved run, viewable offline")
    report.add_argument("run_dir")
    report.add_argument("--out", required=True, help="the .html file to write")
    report.add_argument("--step", type=int, help="show the probe nearest to this step where the run kept one "
                                                 "(a saved run's states are at its end; see the report)")
    bench = sub.add_parser("bench", help="steps/s of plain PyTorch vs training as users run it (the Trainer in this "
                                         "thread, in the background as the app runs it, the command line), and the "
                                         "time of one Trace")
    bench.add_argument("--device", default="auto")
    bench.add_argument("--seconds", type=float, default=2.0, help="seconds of the plain loop per setting (at least 3 rounds)")
    bench.add_argument("--json", help="also write the results to this file")
    bench.add_argument("--threads", type=int, help="torch CPU threads of every loop (default: torch's own choice, and "
                                                  "for the background trainer the app's share for one run, "
                                                  "(cores - 1) / runs training)")
    sub.add_parser("tasks", help="list the tasks and their defaults")
    imp = sub.add_parser("import", help="turn the state dict of a model trained elsewhere into a run")
    imp.add_argument("--weights", required=True, help="safetensors file of the state dict (see --torch-save)")
    imp.add_argument("--torch-save", action="store_true", dest="torch_save",
                     help="the weights are a torch.save state dict: read them with torch.load(weights_only=True)")
    imp.add_argument("--data", required=True, help="the text (charlm) or CSV (sine) the run trains and probes on")
    imp.add_argument("--out", required=True, help="directory for the new run")
    inputs = imp.add_mutually_exclusive_group(required=True)
    inputs.add_argument("--vocab", help="the tokens by id: a JSON list, or a text file with one token per line")
    inputs.add_argument("--features", type=int, help="numeric inputs: features per step")
    imp.add_argument("--task", help="default: charlm with --vocab, sine with --features")
    imp.add_argument("--rename", action="append", default=[], metavar="OLD=NEW", help="rename a prefix of the weights' names")
    imp.add_argument("--seq-len", type=int, dest="seq_len", help="default: the task's")
    imp.add_argument("--column", help="CSV column for sine (default: the first numeric one)")
    imp.add_argument("--nonlinearity", default="tanh", help="an RNN's: tanh or relu (a state dict does not say)")
    return parser


class Progress:
    """A one-line progress bar on a terminal; occasional lines otherwise."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.stream, self.tty = total, stream, stream.isatty()
        self.last = 0.0

    def __call__(self, trainer, entry) -> None:
        now = time.monotonic()
        done = entry["step"] >= trainer.target_steps
        if now - self.last < (0.2 if self.tty else 10.0) and not done:
            return
        self.last = now
        rate = trainer.steps_per_second
        left = (trainer.target_steps - entry["step"]) / rate if rate else 0.0
        filled = int(30 * entry["step"] / trainer.target_steps)
        line = (f"[{'#' * filled}{'.' * (30 - filled)}] step {entry['step']}/{trainer.target_steps} "
                f"loss {entry['loss']:.4g}  {rate:.1f} steps/s  {left:.0f}s left")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and done:
            self.stream.write("\n")
        self.stream.flush()


def check_writable(directory: Path) -> None:
    """Create a file in directory and remove it: a CliError now, rather than after the work, if that fails."""
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".rnnviz-write-check-"):
            pass
    except OSError as err:
        raise CliError(f"cannot write in {directory} ({err.strerror})") from None


def prepare_out(out: Path, force: bool) -> None:
    """--out before training: not a saved run (unless force), created, and writable."""
    from .runs import RUN_JSON

    if (out / RUN_JSON).exists() and not force:
        raise CliError(f"{out} already holds a saved run; pass --force to overwrite it, or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    check_writable(out)


class StopOnCtrlC:
    """While training, Ctrl-C asks the trainer to stop after the step in progress, as the app's Stop button does;
    the run is then saved as usual. A KeyboardInterrupt raised in the middle of a step could leave the weights or
    Adam's moments half updated, and the history a column short; stopping between steps saves a finished step.
    The signal handler only sets a flag, read after each step (an on_step callback, which calls trainer.stop()
    where the loop is between two steps)."""

    def __init__(self, on_step):
        self.on_step, self.pressed = on_step, False

    def __call__(self, trainer, entry) -> None:
        if self.pressed:
            trainer.stop()
        self.on_step(trainer, entry)

    def _press(self, signum, frame) -> None:
        self.pressed = True

    def run(self, trainer) -> None:
        """trainer.run() in this (the main) thread, with Ctrl-C turned into a stop."""
        previous = signal.signal(signal.SIGINT, self._press)
        try:
            trainer.run()
        finally:
            signal.signal(signal.SIGINT, previous)


def cmd_train(args) -> int:
    from .cost import refuse_beyond_free_memory
    from .runs import save_run
    from .train import Trainer

    options = {k: v for k, v in vars(args).items() if k not in ("command", "out", "force")}
    cfg = resolve_config(options)
    refuse_beyond_free_memory(cfg)
    ctrl_c = StopOnCtrlC(Progress(cfg.train.steps))
    trainer = Trainer(cfg)  # refuses what only the task can check (e.g. batch)
    trainer.add_callback("on_step", ctrl_c)
    prepare_out(Path(args.out), args.force)
    print(f"training {cfg.model.cell} on {cfg.task.name} (T={cfg.task.seq_len}, H={cfg.model.hidden}) "
          f"on {trainer.device_name}; baseline loss {trainer.task.baseline_loss:.4g}", file=sys.stderr)
    # In this thread, which built the model and so keeps a team of OpenMP threads: a trainer thread beside it
    # trained at 0.56 of a plain loop's speed on 2 cores (see rnnviz/threads.py).
    ctrl_c.run(trainer)
    evaluation = save_run(trainer, args.out)["eval"]
    loss = "not finite" if evaluation["loss"] is None else f"{evaluation['loss']:.4g}"
    acc = "" if evaluation["accuracy"] is None else f", accuracy {evaluation['accuracy']:.3f}"
    print(f"{trainer.status}: eval loss {loss}{acc} (baseline {trainer.task.baseline_loss:.4g}), "
          f"{trainer.steps_per_second:.1f} steps/s; saved {args.out}", file=sys.stderr)
    return 0


def cmd_probe(args) -> int:
    from .config import check_range
    from .probe import record_trace
    from .runs import load_model, load_run
    from .tasks import make_task

    if not 1 <= args.batch <= 1024:
        raise CliError(f"--batch must be between 1 and 1024, got {args.batch}")
    check_range("seed", args.seed)
    out = npz_path(args.out)
    check_writable(out.parent)
    saved = load_run(args.run_dir)
    task = make_task(saved.config.task)
    twin = load_model(saved, task, unrolled=True)
    batch = task.sample(args.batch, torch.Generator().manual_seed(args.seed), "val")
    trace = record_trace(twin, task, batch, step=int(saved.record.get("step", 0)))
    # numpy's stub lets **kwds fill savez's allow_pickle: bool, so any **dict of arrays fails; trace names never clash
    np.savez(out, **trace.arrays)  # type: ignore[arg-type]
    print(f"wrote {len(trace.arrays)} arrays to {out}: {', '.join(trace.names())}", file=sys.stderr)
    return 0


def cmd_report(args) -> int:
    try:
        import plotly  # noqa: F401 -- the report's figures need it; the rest of the command line does not
    except ImportError:
        raise CliError("the report needs plotly, which is not installed (pip install plotly)") from None
    from .report import report_html
    from .runs import load_run

    if args.step is not None and args.step < 0:
        raise CliError(f"--step must be 0 or more, got {args.step}")
    page = report_html(load_run(args.run_dir), step=args.step)
    Path(args.out).write_text(page, encoding="utf-8")
    print(f"wrote {args.out} ({len(page.encode()) / 2**20:.1f} MB)", file=sys.stderr)
    return 0


def npz_path(name: str) -> Path:
    """The file np.savez writes for this name: it adds .npz when the name lacks it."""
    return Path(name if name.endswith(".npz") else f"{name}.npz")


def cmd_tasks(args) -> int:
    for name, cls in REGISTRY.items():
        defaults = " ".join(f"{k}={v}" for k, v in cls.defaults.items())
        print(f"{name:10s} {cls.summary}\n{'':10s} defaults: {defaults}")
    return 0


def cmd_import(args) -> int:
    from .importer import import_files

    options = {k: v for k, v in vars(args).items() if k not in ("command", "weights", "data", "out", "rename")}
    record = import_files(args.weights, args.data, args.out, renames=args.rename, **options)
    cfg, evaluation = record["config"], record["eval"]
    loss = "not finite" if evaluation["loss"] is None else f"{evaluation['loss']:.4g}"
    print(f"imported {cfg['cell']} (hidden {cfg['hidden']}, {cfg['layers']} layer{'s' * (cfg['layers'] > 1)}) for "
          f"{cfg['task']}: eval loss {loss} (baseline {record['baseline_loss']:.4g}); saved {args.out}", file=sys.stderr)
    return 0


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "bench":
            from .bench import main as bench_main

            return bench_main(args.device, args.seconds, args.json, args.threads)
        return {"train": cmd_train, "probe": cmd_probe, "report": cmd_report, "tasks": cmd_tasks,
                "import": cmd_import}[args.command](args)
    except (CliError, ValueError, OSError) as err:
        print(f"rnnviz: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside training (which it stops, see StopOnCtrlC)
        print("rnnviz: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

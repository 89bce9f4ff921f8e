"""Trainer and BackgroundRun: controls from another thread, callbacks, snapshots, state dicts, non-finite stops,
determinism, clipping, probes."""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest
import torch
from conftest import tiny_config

from rnnviz.background import BackgroundRun
from rnnviz.features import text_feature, unit_correlation
from rnnviz.presets import PRESETS
from rnnviz.status import Status
from rnnviz.train import EARLY_STEPS, History, Trainer, make_optimizer, pick_device

WAIT = 30.0  # seconds a test waits for the training thread before it counts as hung (generous: busy CI)


def weights(trainer):
    return {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def same_weights(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Gate:
    """An on_step callback that holds the training thread at chosen steps until the test lets it go."""

    def __init__(self, *steps):
        self.steps, self.reached, self.proceed = set(steps), threading.Event(), threading.Event()

    def __call__(self, trainer, entry):
        if entry["step"] in self.steps:
            self.reached.set()
            assert self.proceed.wait(WAIT)
            self.proceed.clear()

    def hold(self):
        assert self.reached.wait(WAIT), "the training thread never reached the step"
        self.reached.clear()

    def release(self):
        self.proceed.set()


def in_background(gate: Gate, steps: int = 1000) -> BackgroundRun:
    """A tiny run training in its own thread, held by gate at its steps."""
    trainer = Trainer(tiny_config(steps=steps))
    trainer.add_callback("on_step", gate)
    run = BackgroundRun(trainer)
    run.start()
    return run


def test_pause_set_lr_resume_and_stop_from_another_thread():
    gate = Gate(3, 6)
    run = in_background(gate)
    gate.hold()  # the loop sits between step 3 and step 4
    run.pause()
    assert run.snapshot().status == Status("paused")
    gate.release()
    time.sleep(0.05)  # long enough for several tiny steps, had the pause not held
    snap = run.snapshot()
    assert (snap.step, snap.status) == (3, Status("paused")) and run.is_alive()
    run.set_lr(0.05)
    run.resume()
    gate.hold()  # step 6
    assert run.snapshot().status == Status("running")
    run.stop()
    gate.release()
    run.join(WAIT)
    assert not run.is_alive()
    trainer = run.trainer
    assert trainer.status == Status.stopped("user", 6)
    assert trainer.history.lr == [0.01] * 3 + [0.05] * 3  # the new rate from the first step after set_lr
    assert all(group["lr"] == 0.05 for group in trainer.optimizer.param_groups)
    assert trainer.run(steps=8).kind == "completed" and trainer.step == 8  # a stopped run can go on


def test_stop_wakes_a_paused_trainer_and_start_twice_is_refused():
    gate = Gate(2)
    run = in_background(gate)
    gate.hold()
    with pytest.raises(RuntimeError, match="already running"):
        run.start()
    run.pause()
    gate.release()
    run.stop()
    run.join(WAIT)
    assert run.snapshot().status == Status.stopped("user", 2)


def test_a_stop_says_why_and_a_new_start_forgets_it():
    gate = Gate(2)
    run = in_background(gate)
    gate.hold()
    run.stop("disconnected")  # as the watchdog does for a tab that went away
    gate.release()
    run.join(WAIT)
    assert run.snapshot().status == Status.stopped("disconnected", 2)
    run.start(4)
    run.join(WAIT)
    assert run.snapshot().status == Status("completed")  # a new start forgets the old stop
    assert run.trainer.run(steps=6) == Status("completed")  # and so does the core's own run


def test_set_lr_refuses_bad_values():
    trainer = Trainer(tiny_config())
    for bad in (0, -1.0, float("nan"), float("inf"), 11, "0.1", True):
        with pytest.raises(ValueError, match="learning rate"):
            trainer.set_lr(bad)


def test_callbacks_see_every_step_and_every_probe():
    steps, probes = [], []
    trainer = Trainer(tiny_config(steps=10, probe_every=5), probe_fraction=1.0)
    trainer.add_callback("on_step", lambda tr, entry: steps.append(entry))
    trainer.add_callback("on_probe", lambda tr, trace: probes.append(trace.step))
    with pytest.raises(ValueError, match="unknown event"):
        trainer.add_callback("on_batch_end", print)
    assert trainer.run().kind == "completed"
    assert [e["step"] for e in steps] == list(range(1, 11))
    assert set(steps[0]) == {"step", "loss", "grad_norm", "clipped", "lr", "accuracy", "time"}
    assert probes == [0, 5, 10] == [p["step"] for p in trainer.probes]
    assert trainer.snapshot().trace_steps == [0, 5, 10]
    assert trainer.trace_at(6).step == 5


def test_a_failing_callback_becomes_the_status_not_an_exception():
    def boom(trainer, entry):
        raise KeyError("callback bug")

    trainer = Trainer(tiny_config(steps=5))
    trainer.add_callback("on_step", boom)
    status = trainer.run()
    assert (status.reason, status.step) == ("error", 1) and status.detail.startswith("KeyError")


def test_snapshots_from_another_thread_are_consistent():
    run = BackgroundRun(Trainer(tiny_config(steps=150, probe_every=7), probe_fraction=1.0))
    run.start()
    snaps = []
    while run.is_alive() or not snaps:
        snaps.append(run.snapshot())
        time.sleep(0.001)  # let the training thread have the GIL between snapshots
    run.join(WAIT)
    snaps.append(run.snapshot())
    assert snaps[-1].status == Status("completed") and snaps[-1].step == 150
    for snap in snaps:
        lengths = {len(v) for v in snap.history.values() if isinstance(v, np.ndarray)}
        lengths |= {len(v) for v in snap.history["param_norms"].values()}
        assert lengths == {snap.step}
        assert snap.history["step"].tolist() == list(range(1, snap.step + 1))
        assert [p["step"] for p in snap.probes] == snap.trace_steps
        assert all(p["step"] <= snap.step for p in snap.probes)
        assert snap.trace is None or snap.trace.step == snap.probes[-1]["step"]
    assert len({s.step for s in snaps}) > 2  # the snapshots really were taken while it trained


@pytest.mark.filterwarnings("ignore:overflow encountered")  # the last probe's gradient norms overflow, as they should
def test_non_finite_gradient_stops_the_run_keeping_history_and_the_last_finite_weights():
    cfg = tiny_config(cell="rnn", init="orthogonal", init_gain=3.0, lr=1.0, clip=0.0, optimizer="sgd", steps=100)
    trainer = Trainer(cfg)
    status = trainer.run()  # must not raise
    assert status.reason == "non_finite" and status.detail in ("loss", "gradient")
    bad_step = trainer.step
    assert status.step == bad_step and 1 < bad_step < 100
    assert len(trainer.history) == bad_step == trainer.history.step[-1]
    last = trainer.history
    assert not (math.isfinite(last.loss[-1]) and math.isfinite(last.grad_norm[-1]))
    assert all(math.isfinite(v) for v in last.loss[:-1] + last.grad_norm[:-1])
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    # the kept weights are those after the last finite step: the same run stopped one step earlier
    earlier = Trainer(cfg)
    assert earlier.run(steps=bad_step - 1).kind == "completed"
    assert same_weights(weights(trainer), weights(earlier))
    assert trainer.evaluate()["loss"] is not None  # the model is still usable


def test_same_seed_gives_identical_history_and_weights_on_cpu():
    cfg = tiny_config(cell="gru", steps=12, layers=2, clip=0.5)
    runs = [Trainer(cfg) for _ in range(2)]
    for trainer in runs:
        assert trainer.run().kind == "completed"
    a, b = (tr.history.arrays() for tr in runs)
    for name in ("step", "loss", "grad_norm", "clipped", "lr", "accuracy"):
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    for name in a["param_norms"]:
        np.testing.assert_array_equal(a["param_norms"][name], b["param_norms"][name])
    assert same_weights(weights(runs[0]), weights(runs[1]))
    other = Trainer(cfg.replace(seed=1))
    other.run()
    assert other.history.loss != runs[0].history.loss


def test_a_state_dict_carries_a_run_on_in_another_trainer_exactly():
    cfg = tiny_config(steps=12, optimizer="adam")
    whole, first = Trainer(cfg), Trainer(cfg)
    whole.run()
    first.run(steps=5)
    second = Trainer(cfg.replace(seed=7))  # other weights and data stream, all replaced by the state
    second.load_state_dict(first.state_dict())
    assert second.snapshot().step == 5 and second.snapshot().trace is None  # no Trace of the weights it had
    assert second.run(steps=12).kind == "completed" and second.step == 12
    assert same_weights(weights(second), weights(whole))
    assert second.history.loss == whole.history.loss
    state = first.state_dict()
    state["step"] = 4
    with pytest.raises(ValueError, match="the history has 5 steps"):
        Trainer(cfg).load_state_dict(state)
    with pytest.raises(KeyError, match="data_gen"):
        Trainer(cfg).load_state_dict({k: v for k, v in state.items() if k != "data_gen"})


def test_a_copy_of_the_model_is_the_callers_own():
    trainer = Trainer(tiny_config(steps=4))
    trainer.run()
    twin, step = trainer.copy_model()
    fused, _ = trainer.copy_model(unrolled=False)
    assert step == 4 and twin.family == fused.family
    assert same_weights(fused.state_dict(), weights(trainer)) and same_weights(twin.state_dict(), weights(trainer))
    with torch.no_grad():
        fused.head.weight.add_(1.0)
    assert not same_weights(fused.state_dict(), weights(trainer))


def test_device_auto_resolves_to_cpu_here_and_is_recorded():
    assert pick_device("auto") == torch.device("cpu")
    trainer = Trainer(tiny_config(device="auto"))
    assert trainer.device == torch.device("cpu") and trainer.device_name.startswith("CPU · ")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        pick_device("cuda")


def test_clip_events_are_recorded_and_clipping_bounds_the_update():
    cfg = tiny_config(optimizer="sgd", momentum=0.0, lr=1.0, clip=1e-3, steps=4)
    trainer = Trainer(cfg)
    before = weights(trainer)
    trainer.run(steps=1)
    moved = torch.sqrt(sum(((weights(trainer)[k] - before[k]) ** 2).sum() for k in before))
    assert trainer.history.grad_norm[0] > 1e-3 and trainer.history.clipped == [True]
    assert moved.item() == pytest.approx(1e-3, rel=1e-3)  # lr * clip: the step was rescaled to the clip norm
    trainer.run()
    h = trainer.history
    assert h.clipped == [g > 1e-3 for g in h.grad_norm]
    unclipped = Trainer(tiny_config(clip=0.0, steps=4))
    unclipped.run()
    assert unclipped.history.clipped == [False] * 4


def test_per_parameter_gradient_norms_make_up_the_total():
    trainer = Trainer(tiny_config(steps=3, layers=2))
    trainer.run()
    h = trainer.history
    assert set(h.param_norms) == set(dict(trainer.model.named_parameters()))
    for step in range(3):
        total = math.sqrt(sum(v[step] ** 2 for v in h.param_norms.values()))
        assert total == pytest.approx(h.grad_norm[step], rel=1e-5)


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("rmsprop", torch.optim.RMSprop), ("sgd", torch.optim.SGD)])
def test_optimizers(name, cls):
    opt = make_optimizer(name, [torch.nn.Parameter(torch.zeros(2))], 0.1, momentum=0.5)
    assert isinstance(opt, cls) and opt.param_groups[0]["lr"] == 0.1
    if name == "sgd":
        assert opt.param_groups[0]["momentum"] == 0.5
    trainer = Trainer(tiny_config(optimizer=name, steps=3))
    assert trainer.run().kind == "completed" and isinstance(trainer.optimizer, cls)


def test_probes_are_skipped_beyond_their_time_share_but_early_and_last_steps_are_probed():
    trainer = Trainer(tiny_config(steps=EARLY_STEPS + 20, probe_every=1), probe_fraction=1e-9)
    trainer.run()
    steps = [p["step"] for p in trainer.probes]
    assert steps[:EARLY_STEPS + 1] == list(range(EARLY_STEPS + 1))  # on schedule, whatever the share
    assert steps[-1] == EARLY_STEPS + 20 and len(steps) < EARLY_STEPS + 10


def test_full_traces_are_thinned_within_the_budget(monkeypatch):
    monkeypatch.setattr("rnnviz.train.TRACE_BUDGET_BYTES", 10_000)  # about four Traces of the tiny model
    trainer = Trainer(tiny_config(steps=40, probe_every=1), probe_fraction=1.0)
    trainer.run()
    kept = [tr.step for tr in trainer.traces]
    assert 2 < len(kept) < 41 and kept[0] == 0 and kept[-1] == 40  # the first and the latest stay
    assert sum(tr.nbytes for tr in trainer.traces) <= 10_000
    assert len(trainer.probes) == 41  # the small summaries are all kept


def test_history_arrays_have_numpy_dtypes():
    trainer = Trainer(tiny_config(steps=2, task="parity", seq_len=4))
    trainer.run()
    arrays = trainer.history.arrays()
    assert arrays["step"].dtype == np.int64 and arrays["clipped"].dtype == bool and arrays["loss"].dtype == np.float32
    assert set(arrays) == set(History.COLUMNS) | {"param_norms"}
    assert 0 <= arrays["accuracy"].min() <= arrays["accuracy"].max() <= 1


def test_lstm_learns_the_adding_problem_at_t20():
    """The sanity check: an LSTM carries the first marked value across ~10 steps, well below the 1/6 baseline."""
    cfg = tiny_config(cell="lstm", seq_len=20, hidden=32, batch=32, steps=400, lr=1e-2, clip=1.0, probe_every=100)
    trainer = Trainer(cfg)
    assert trainer.run().kind == "completed"
    assert trainer.evaluate()["loss"] < 0.05 < trainer.task.baseline_loss / 3


def test_reversal_attention_learns_the_anti_diagonal():
    """Output j of the reversal task must read input S-1-j: with dot attention that is where the weight goes."""
    cfg = tiny_config(task="reversal", cell="gru", seq_len=5, hidden=32, batch=32, steps=300, lr=1e-2, attention="dot",
                      probe_every=100, probe_batch=16)
    trainer = Trainer(cfg)
    assert trainer.run().kind == "completed"
    assert trainer.evaluate(n=200)["accuracy"] > 0.9
    attn = trainer.snapshot().trace["attn"].mean(axis=0)  # (T_out, T_in), averaged over the probe batch
    assert attn.argmax(axis=1).tolist() == [4, 3, 2, 1, 0]


@pytest.mark.slow  # trains the charlm preset 200 steps
def test_a_character_lstm_grows_a_unit_that_is_on_inside_brackets():
    """The charlm preset's promise: on the bracketed corpus (numbers inside brackets) a unit of h comes to follow
    "inside brackets" within a couple of hundred steps, far more closely than the best unit of the untrained network,
    which follows it a little only because digits are other inputs than letters."""
    trainer = Trainer(PRESETS["charlm"].config(steps=200), probe_fraction=1.0)
    assert trainer.run().kind == "completed"

    def best_r(step: int) -> float:
        trace = trainer.trace_at(step)
        x = trace["x"]  # (B, T) character ids
        texts = ["".join(trainer.task.in_vocab[int(i)] for i in row) for row in x]
        signal = text_feature("in_brackets", texts).reshape(-1)
        return float(np.abs(unit_correlation(trace["h.0"].reshape(x.size, -1), signal)).max())

    untrained, trained = best_r(0), best_r(200)
    assert trained > 0.7 and trained > untrained + 0.15, (untrained, trained)

"""Same seed, same run, however many runs start at once: every random draw of a run uses its own generator.

torch's global generator is shared by every thread of the server; a run that seeded it and drew its initial
weights from it could have them drawn away by another tab's run pressing Train at the same moment.
"""
from __future__ import annotations

import sys
import threading
from itertools import product

import pytest
import torch
from conftest import tiny_config

from rnnviz import seeded
from rnnviz.config import ATTENTIONS, CELLS, INITS
from rnnviz.models import SeqModel, make_model
from rnnviz.tasks import REGISTRY
from rnnviz.train import Trainer, make_optimizer

CELL_CYCLE = ("rnn", "lstm", "gru")


def concurrent_config(seed: int):
    """Seeds 0-7 over the three cells, two layers, orthogonal W_hh: every kind of draw construction makes."""
    return tiny_config(seed=seed, cell=CELL_CYCLE[seed % 3], layers=2, hidden=12, init="orthogonal", steps=30,
                       probe_every=10, attention="dot" if seed % 2 else "none")


def trained_run(seed: int) -> dict:
    torch.set_num_threads(1)  # torch's thread count is per thread: the same arithmetic in every thread
    trainer = Trainer(concurrent_config(seed))
    status = trainer.run()
    return {"status": status, "loss": trainer.history.loss, "grad_norm": trainer.history.grad_norm,
            "probes": [p["loss"] for p in trainer.probes], "eval": trainer.evaluate(n=64),
            "weights": {k: v.clone() for k, v in trainer.model.state_dict().items()}}


def same_run(a: dict, b: dict) -> bool:
    plain = ("status", "loss", "grad_norm", "probes", "eval")
    return all(a[k] == b[k] for k in plain) and all(torch.equal(a["weights"][k], b["weights"][k]) for k in a["weights"])


def test_runs_started_together_are_the_runs_started_one_by_one(exact_probes):
    seeds = range(8)
    alone = {seed: trained_run(seed) for seed in seeds}
    together, start = {}, threading.Barrier(len(seeds))

    def work(seed):
        start.wait()
        together[seed] = trained_run(seed)

    threads = [threading.Thread(target=work, args=(seed,)) for seed in seeds]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often, as a busy server does
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        sys.setswitchinterval(interval)
    differ = [seed for seed in seeds if not same_run(alone[seed], together[seed])]
    assert not differ, f"seeds {differ} trained differently when started together"


def test_a_run_leaves_the_global_generator_alone(monkeypatch, exact_probes):
    """Building, training, probing and evaluating neither seed nor draw from torch's global generator."""
    def refuse(*args, **kwargs):
        raise AssertionError("a run used torch's global generator")

    # The first optimizer built in a process has torch's compiler index every torch function: a patched one
    # there is an error of its own. Build one before patching, so this test runs alone as well as in the suite.
    make_optimizer("adam", [torch.nn.Parameter(torch.zeros(1))], lr=1e-3)

    for name in ("manual_seed", "seed", "set_rng_state"):
        monkeypatch.setattr(torch, name, refuse)
        monkeypatch.setattr(torch.random, name, refuse)
    monkeypatch.setattr(torch.random, "fork_rng", refuse)
    before = torch.random.get_rng_state()
    for options in ({"cell": "lstm"}, {"cell": "gru", "attention": "dot", "bidirectional": True},
                    {"cell": "rnn", "attention": "additive"}, {"cell": "transformer"}):
        trainer = Trainer(tiny_config(**options, init="orthogonal", steps=6, probe_every=3))
        assert trainer.run().kind == "completed"
        trainer.evaluate(n=32)
    assert torch.equal(before, torch.random.get_rng_state())


def global_rng_weights(cfg, io, seed: int, unrolled: bool) -> dict:
    """The weights make_model gave when it built the model with torch.nn's own constructors inside
    fork_rng + manual_seed(seed): every draw from the global generator, in construction order."""
    def torch_constructor(layer_cls, *args, generator, **kwargs):
        return layer_cls(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch, torch.random.fork_rng(devices=[]):
        patch.setattr(seeded, "build", torch_constructor)
        torch.manual_seed(seed)
        return SeqModel(cfg, io, unrolled).state_dict()


def combinations():
    """Every cell, attention, initialisation and direction on every task that takes them, fused and unrolled.
    A task takes its own attention choices; the transformer no attention pooling, no decoder and one direction
    (it reads both ways already); bidirectional layers neither next-step tasks nor a decoder (rnnviz.models)."""
    for task, cell, attention, init, bidirectional, unrolled in product(REGISTRY, CELLS, ATTENTIONS, INITS,
                                                                        (False, True), (False, True)):
        cls = REGISTRY[task]
        refused = (attention not in cls.attention
                   or cell == "transformer" and (attention != "none" or bidirectional or cls.output == "seq2seq")
                   or bidirectional and (cls.causal or cls.output == "seq2seq"))
        if not refused:
            yield task, cell, attention, init, bidirectional, unrolled


@pytest.mark.parametrize("task", list(REGISTRY))
def test_seeded_weights_are_the_global_generators_weights(task):
    """A generator seeded with s draws what torch.manual_seed(s) drew, so runs keep their weights bit for bit."""
    cls = REGISTRY[task]
    seq_len = {"sentiment": 13}.get(task, 6)
    io = cls(tiny_config(task=task, seq_len=seq_len).task).io
    for _, cell, attention, init, bidirectional, unrolled in (c for c in combinations() if c[0] == task):
        cfg = tiny_config(task=task, seq_len=seq_len, cell=cell, attention=attention, init=init, hidden=6, layers=2,
                          embed_dim=3, bidirectional=bidirectional).model
        seed = 11
        expected = global_rng_weights(cfg, io, seed, unrolled)
        got = make_model(cfg, io, seed=seed, unrolled=unrolled).state_dict()
        assert expected.keys() == got.keys()
        different = [k for k in got if not torch.equal(expected[k], got[k])]
        which = f"{cell} {attention} {init} bidirectional={bidirectional} unrolled={unrolled}"
        assert not different, f"{which}: {different} differ"

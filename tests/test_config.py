"""Configs: validation with messages a person can act on, and the flat names the CLI, app and run.json share."""
from __future__ import annotations

import pytest

from rnnviz.config import ModelConfig, RunConfig, TaskConfig, TrainConfig


@pytest.mark.parametrize("make,message", [
    (lambda: ModelConfig(cell="mamba"), "unknown cell 'mamba': choose one of rnn, lstm, gru, transformer"),
    (lambda: ModelConfig(bidirectional="yes"), "bidirectional must be true or false, got 'yes'"),
    (lambda: ModelConfig(hidden=513), "hidden must be between 1 and 512, got 513"),
    (lambda: ModelConfig(layers=4), "layers must be between 1 and 3"),
    (lambda: ModelConfig(init_gain=float("nan")), "init gain must be between"),
    (lambda: TaskConfig(seq_len=0), "sequence length must be between 1 and 1000"),
    (lambda: TrainConfig(lr=0.0), "learning rate must be between"),
    (lambda: TrainConfig(clip=-1.0), "clip must be between 0"),
    (lambda: TrainConfig(device="tpu"), "unknown device 'tpu'"),
    (lambda: TrainConfig(probe_batch=0), "probe batch must be between 1 and 64"),
])
def test_validation_messages(make, message):
    with pytest.raises(ValueError) as err:
        make()
    assert message in str(err.value)


def test_flat_names_round_trip():
    cfg = RunConfig(ModelConfig(cell="gru", hidden=5, attention="dot"), TaskConfig("sentiment", 14),
                    TrainConfig(lr=0.01, clip=0.0, seed=3))
    flat = cfg.flat()
    assert flat["task"] == "sentiment" and flat["seq_len"] == 14 and flat["cell"] == "gru" and "name" not in flat
    assert RunConfig.from_flat(flat) == cfg
    assert cfg.replace(hidden=7).model.hidden == 7 and cfg.model.hidden == 5  # frozen: replace makes a copy


def test_from_flat_coerces_strings_and_refuses_unknown_or_bad_values():
    cfg = RunConfig.from_flat({"task": "adding", "hidden": "16", "lr": "0.5", "steps": 20.0})
    assert (cfg.model.hidden, cfg.train.lr, cfg.train.steps) == (16, 0.5, 20)
    with pytest.raises(ValueError, match="unknown option"):
        RunConfig.from_flat({"colour": "red"})
    with pytest.raises(ValueError, match="whole number"):
        RunConfig.from_flat({"hidden": "2.5"})
    with pytest.raises(ValueError, match="expected a number"):
        RunConfig.from_flat({"lr": True})


@pytest.mark.parametrize("given,value", [(True, True), (False, False), ("true", True), ("False", False), ("1", True),
                                         ("0", False)])
def test_from_flat_reads_true_and_false(given, value):
    assert RunConfig.from_flat({"bidirectional": given}).model.bidirectional is value


@pytest.mark.parametrize("given", ["no", "yes", "", 1, 0.0, None])
def test_from_flat_refuses_anything_else_for_a_yes_no_option(given):
    """A URL's bidirectional=no must not read as true (a non-empty string), nor a number as a flag."""
    with pytest.raises(ValueError, match="true or false"):
        RunConfig.from_flat({"bidirectional": given})

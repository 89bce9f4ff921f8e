"""torch.nn layers initialised from a run's own torch.Generator, never from torch's global one.

torch.nn's constructors draw their initial weights from the process-wide generator, which every thread of
the server shares: a run that seeded it could have its numbers drawn by another tab's run starting at the
same moment. `build` constructs a layer on the "meta" device (which allocates and draws nothing), moves it
to the CPU uninitialised, and applies torch.nn's default initialisation itself from the given generator:
the same init functions on the same tensors in the same order. A generator seeded with s yields the
stream torch.manual_seed(s) does, so the weights are bit for bit those torch.nn's own constructors give
after torch.manual_seed(s) (tests/test_seeding.py checks every cell, attention and initialisation).
generator=None draws from the global generator, as torch.nn does.
"""
from __future__ import annotations

import math
from typing import TypeVar

import torch
from torch import nn

Layer = TypeVar("Layer", bound=nn.Module)


def build(layer_cls: type[Layer], *args, generator: torch.Generator | None, **kwargs) -> Layer:
    """layer_cls(*args, **kwargs) for nn.Linear, nn.Embedding or a recurrent layer, its weights drawn from generator."""
    layer = layer_cls(*args, device="meta", **kwargs).to_empty(device="cpu")
    reset_parameters(layer, generator)
    return layer


@torch.no_grad()
def reset_parameters(layer: nn.Module, generator: torch.Generator | None) -> None:
    """What the layer's own reset_parameters() does, drawing from generator."""
    if isinstance(layer, nn.Linear):
        nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)  # U(+-1/sqrt(fan_in))
        if layer.bias is not None:
            bound = 1 / math.sqrt(layer.in_features) if layer.in_features > 0 else 0
            nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    elif isinstance(layer, nn.Embedding):
        nn.init.normal_(layer.weight, generator=generator)
        if layer.padding_idx is not None:
            layer.weight[layer.padding_idx].zero_()
    elif isinstance(layer, nn.RNNBase):
        recurrent_uniform_(layer, layer.hidden_size, generator)
    else:
        raise TypeError(f"no seeded initialisation for {type(layer).__name__}")


@torch.no_grad()
def recurrent_uniform_(layer: nn.Module, hidden_size: int, generator: torch.Generator | None) -> None:
    """torch.nn's recurrent initialisation: every parameter, in registration order, from U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size) if hidden_size > 0 else 0
    for p in layer.parameters():
        nn.init.uniform_(p, -bound, bound, generator=generator)

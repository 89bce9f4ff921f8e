"""SeqModel = [embed | numeric input] -> recurrent stack -> [attention] -> linear head.

Parameter names follow torch.nn, so a plain `torch.nn.LSTM` state dict loads into `model.rnn`:
    embed.weight                        token tasks only
    rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, ... _l1
    decoder.*                           encoder-decoder tasks: the decoder's recurrent stack
    attn.*                              attention parameters, where attention is on
    head.weight, head.bias

With `unrolled=True` the recurrent stacks are `cells.UnrolledRNN` (same names and shapes), and
forward(record=...) fills a dict with every h_t, c_t, gate and attention weight.
"""
from __future__ import annotations

import torch
from torch import nn

from . import seeded
from .attention import AttentionPool, EncoderDecoderAttention
from .cells import GATE_BLOCKS, UnrolledRNN, fused_rnn
from .config import ModelConfig
from .tasks.base import IOSpec


class SeqModel(nn.Module):
    def __init__(self, cfg: ModelConfig, io: IOSpec, unrolled: bool = False, generator: torch.Generator | None = None):
        """generator: where every initial weight is drawn from, in construction order (None: torch's global
        generator, as torch.nn does; make_model passes a run's own)."""
        super().__init__()
        self.cfg, self.io, self.unrolled = cfg, io, unrolled
        H, gen = cfg.hidden, generator
        if cfg.attention != "none" and io.output == "per_step":
            raise ValueError("attention needs a task with one output per sequence or an encoder-decoder task")
        self.embed = seeded.build(nn.Embedding, io.n_in, cfg.embed_dim, generator=gen) if io.tokens_in else None
        rnn_in = cfg.embed_dim if io.tokens_in else io.n_in
        make = UnrolledRNN if unrolled else fused_rnn
        self.rnn = make(cfg.cell, rnn_in, H, cfg.layers, cfg.nonlinearity, generator=gen)
        self.decoder = make(cfg.cell, rnn_in, H, cfg.layers, cfg.nonlinearity, generator=gen) if io.output == "seq2seq" else None
        self.attn = None
        if cfg.attention != "none":
            self.attn = (EncoderDecoderAttention if io.output == "seq2seq" else AttentionPool)(H, cfg.attention, gen)
        head_in = 2 * H if (io.output == "seq2seq" and self.attn is not None) else H
        self.head = seeded.build(nn.Linear, head_in, io.n_out, generator=gen)
        initialise(self, cfg, gen)

    def recurrent_stacks(self) -> dict[str, nn.Module]:
        """Trace prefix -> recurrent stack ("" for the encoder / only stack, "dec." for a decoder)."""
        stacks = {"": self.rnn}
        if self.decoder is not None:
            stacks["dec."] = self.decoder
        return stacks

    def _run(self, stack, inputs, hx, record, prefix):
        if self.unrolled:
            return stack(inputs, hx, record=record, prefix=prefix)
        return stack(inputs, hx)

    def forward(self, x, dec_in=None, mask=None, record: dict | None = None) -> torch.Tensor:
        """x: (B, T, F) or (B, T) ids. Returns (B, O) for "last", (B, T, O) for "per_step",
        (B, T_out, O) for "seq2seq". Fills record (unrolled only) with per-step states and `attn`."""
        inputs = self.embed(x) if self.embed is not None else x  # (B, T, E or F)
        hs, state = self._run(self.rnn, inputs, None, record, "")  # (B, T, H)
        if self.io.output == "per_step":
            return self.head(hs)  # (B, T, O)
        if self.io.output == "last":
            if self.attn is None:
                return self.head(hs[:, -1])  # (B, O)
            pooled, alpha = self.attn(hs, mask)  # (B, H), (B, 1, T)
            _keep(record, alpha)
            return self.head(pooled)
        dec, _ = self._run(self.decoder, self.embed(dec_in), state, record, "dec.")  # (B, T_out, H)
        if self.attn is None:
            return self.head(dec)
        context, alpha = self.attn(dec, hs, mask)  # (B, T_out, H), (B, T_out, T_in)
        _keep(record, alpha)
        return self.head(torch.cat([dec, context], dim=-1))  # (B, T_out, O)


def _keep(record, alpha):
    if record is not None:
        record["attn"] = alpha


@torch.no_grad()
def initialise(model: SeqModel, cfg: ModelConfig, generator: torch.Generator | None = None) -> None:
    """Apply the config's recurrent initialisation on top of torch.nn's defaults.

    orthogonal: each H x H gate block of W_hh is orthogonal times init_gain, so for a vanilla
    RNN every singular value, hence the spectral radius, is exactly rho = init_gain.
    identity: each block is init_gain * I with zero recurrent bias (IRNN, Le et al. 2015).
    LSTM: the forget gate's bias (split as PyTorch does over b_ih and b_hh) sums to forget_bias.
    Random draws (orthogonal) come from generator (None: torch's global generator).
    """
    H = cfg.hidden
    for stack in model.recurrent_stacks().values():
        for layer in range(cfg.layers):
            w_hh = getattr(stack, f"weight_hh_l{layer}")
            for block in range(GATE_BLOCKS[cfg.cell]):
                rows = w_hh[block * H:(block + 1) * H]
                if cfg.init == "orthogonal":
                    nn.init.orthogonal_(rows, gain=cfg.init_gain, generator=generator)
                elif cfg.init == "identity":
                    rows.copy_(torch.eye(H) * cfg.init_gain)
            if cfg.init == "identity":
                getattr(stack, f"bias_hh_l{layer}").zero_()
            if cfg.cell == "lstm":
                getattr(stack, f"bias_ih_l{layer}")[H:2 * H] = cfg.forget_bias
                getattr(stack, f"bias_hh_l{layer}")[H:2 * H] = 0.0


def make_model(cfg: ModelConfig, io: IOSpec, seed: int | None = None, unrolled: bool = False) -> SeqModel:
    """A freshly initialised model drawn from a generator of its own, never torch's global one, so runs
    built at the same moment in other threads cannot take its numbers. With a seed, the same weights every
    time (those torch.manual_seed(seed) followed by torch.nn's constructors gave); without, fresh ones."""
    generator = torch.Generator()
    if seed is None:
        generator.seed()  # a non-deterministic seed
    else:
        generator.manual_seed(seed)
    return SeqModel(cfg, io, unrolled, generator)

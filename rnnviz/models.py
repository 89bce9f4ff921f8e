"""SeqModel = [embed | numeric input] -> recurrent stack or transformer -> [attention] -> linear head.

Parameter names follow torch.nn, so a plain `torch.nn.LSTM` state dict loads into `model.rnn`:
    embed.weight                        token tasks only
    rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0, ... _l1
    rnn.weight_ih_l0_reverse, ...       bidirectional layers: the backward direction, as torch.nn names it
    decoder.*                           encoder-decoder tasks: the decoder's recurrent stack
    encoder.*                           cell "transformer": rnnviz.transformer.Transformer, in place of rnn
    attn.*                              attention parameters, where attention is on
    head.weight, head.bias

With `unrolled=True` the recurrent stacks are `cells.UnrolledRNN` (same names and shapes), and
forward(record=...) fills a dict with every h_t, c_t, gate and attention weight. The transformer has no
fused form: the training model and the twin hold the same module, which records when given a dict.
`model.family` (rnnviz.families) says what a model records and which analyses apply to it.

What each family refuses, and why:
  - bidirectional layers and the transformer's full attention on tasks whose target at t is a later input
    (IOSpec.causal: charlm, sine): reading ahead would copy the answer. The transformer masks later keys
    there instead; bidirectional layers are refused.
  - bidirectional layers on encoder-decoder tasks: the decoder's initial state would need a choice (its
    forward half, or a projection of both) that the app does not offer.
  - the transformer on encoder-decoder tasks: it has no decoder (yet).
"""
from __future__ import annotations

import torch
from torch import nn

from . import seeded
from .attention import AttentionPool, EncoderDecoderAttention
from .cells import GATE_BLOCKS, UnrolledRNN, fused_rnn
from .config import BIDIRECTIONAL_REFUSALS, ModelConfig, bidirectional_refusal
from .families import BOTH_WAYS, ONE_WAY, ModelFamily, family_of, weight_suffix
from .tasks.base import IOSpec
from .transformer import Transformer


class SeqModel(nn.Module):
    def __init__(self, cfg: ModelConfig, io: IOSpec, unrolled: bool = False, generator: torch.Generator | None = None):
        """generator: where every initial weight is drawn from, in construction order (None: torch's global
        generator, as torch.nn does; make_model passes a run's own)."""
        super().__init__()
        self.cfg, self.io, self.unrolled = cfg, io, unrolled
        self.family: ModelFamily = family_of(cfg)
        check_fits(cfg, io)
        H, gen = cfg.hidden, generator
        self.embed = seeded.build(nn.Embedding, io.n_in, cfg.embed_dim, generator=gen) if io.tokens_in else None
        rnn_in = cfg.embed_dim if io.tokens_in else io.n_in
        self.rnn = self.encoder = self.decoder = self.attn = None
        if cfg.cell == "transformer":
            self.encoder = Transformer(rnn_in, H, cfg.layers, cfg.heads, causal=io.causal, generator=gen)
        else:
            make = UnrolledRNN if unrolled else fused_rnn
            self.rnn = make(cfg.cell, rnn_in, H, cfg.layers, cfg.nonlinearity, generator=gen,
                            bidirectional=cfg.bidirectional)
            if io.output == "seq2seq":
                self.decoder = make(cfg.cell, rnn_in, H, cfg.layers, cfg.nonlinearity, generator=gen)
        features = H * self.family.features  # what the stack outputs per step: 2H for bidirectional layers
        if cfg.attention != "none":
            self.attn = (EncoderDecoderAttention if io.output == "seq2seq" else AttentionPool)(features, cfg.attention, gen)
        head_in = 2 * H if (io.output == "seq2seq" and self.attn is not None) else features
        self.head = seeded.build(nn.Linear, head_in, io.n_out, generator=gen)
        initialise(self, cfg, gen)

    def recurrent_stacks(self) -> dict[str, nn.Module]:
        """Trace prefix -> recurrent stack ("" for the encoder / only stack, "dec." for a decoder); none for
        the transformer."""
        stacks: dict[str, nn.Module] = {"": self.rnn} if self.rnn is not None else {}
        if self.decoder is not None:
            stacks["dec."] = self.decoder
        return stacks

    def _run(self, stack, inputs, hx, record, prefix):
        if self.unrolled:
            return stack(inputs, hx, record=record, prefix=prefix)
        return stack(inputs, hx)

    def _encode(self, inputs, mask, record):
        """The encoder's outputs (B, T, features) and final state (None for the transformer)."""
        if self.encoder is not None:
            return self.encoder(inputs, mask, record=record)
        return self._run(self.rnn, inputs, None, record, "")

    def forward(self, x, dec_in=None, mask=None, record: dict | None = None) -> torch.Tensor:
        """x: (B, T, F) or (B, T) ids. Returns (B, O) for "last", (B, T, O) for "per_step",
        (B, T_out, O) for "seq2seq". Fills record (unrolled twins and the transformer) with per-step states and
        attention weights."""
        inputs = self.embed(x) if self.embed is not None else x  # (B, T, E or F)
        hs, state = self._encode(inputs, mask, record)  # (B, T, features)
        if self.io.output == "per_step":
            return self.head(hs)  # (B, T, O)
        if self.io.output == "last":
            if self.attn is None:
                return self.head(self._last(hs, mask))  # (B, O)
            pooled, alpha = self.attn(hs, mask)  # (B, features), (B, 1, T)
            _keep(record, alpha)
            return self.head(pooled)
        assert self.embed is not None  # dec_in holds token ids: a seq2seq task's model embeds its tokens
        dec, _ = self._run(self.decoder, self.embed(dec_in), state, record, "dec.")  # (B, T_out, H)
        if self.attn is None:
            return self.head(dec)
        context, alpha = self.attn(dec, hs, mask)  # (B, T_out, H), (B, T_out, T_in)
        _keep(record, alpha)
        return self.head(torch.cat([dec, context], dim=-1))  # (B, T_out, O)

    def _last(self, hs: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The state a one-output task reads, (B, features): the last step's, hs[:, -1], for one-way stacks and
        the transformer. A bidirectional layer's backward direction reads the sequence from its end, so at the
        last step it has seen one input; its summary of the whole sequence is at the first step it reads last.
        So: the forward direction's last state and the backward direction's first (torch.nn's h_n), the first
        real step where the task pads (on the left), so that the backward half has not read padding after it."""
        if self.family.features == 1:
            return hs[:, -1]
        H = self.cfg.hidden
        first = mask.int().argmax(dim=1) if mask is not None else torch.zeros(len(hs), dtype=torch.long, device=hs.device)
        backward = hs[torch.arange(len(hs), device=hs.device), first, H:]  # (B, H)
        return torch.cat([hs[:, -1, :H], backward], dim=-1)  # (B, 2H)


def check_fits(cfg: ModelConfig, io: IOSpec) -> None:
    """Raise ValueError, saying why, where a model config cannot serve a task (see the module docstring)."""
    if cfg.attention != "none" and io.output == "per_step":
        raise ValueError("attention needs a task with one output per sequence or an encoder-decoder task")
    refusal = bidirectional_refusal(cfg.cell, io.output, io.causal) if cfg.bidirectional else None
    if refusal is not None:
        raise ValueError(BIDIRECTIONAL_REFUSALS[refusal])
    if cfg.cell == "transformer" and io.output == "seq2seq":
        raise ValueError("the transformer has no decoder: encoder-decoder tasks need rnn, lstm or gru")


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
    for stack in model.recurrent_stacks().values():  # none for the transformer, which these options do not concern
        for layer in range(cfg.layers):
            for direction in stack_directions(stack):
                suffix = f"_l{layer}{weight_suffix(direction)}"
                w_hh = getattr(stack, f"weight_hh{suffix}")
                for block in range(GATE_BLOCKS[cfg.cell]):
                    rows = w_hh[block * H:(block + 1) * H]
                    if cfg.init == "orthogonal":
                        nn.init.orthogonal_(rows, gain=cfg.init_gain, generator=generator)
                    elif cfg.init == "identity":
                        rows.copy_(torch.eye(H) * cfg.init_gain)
                if cfg.init == "identity":
                    getattr(stack, f"bias_hh{suffix}").zero_()
                if cfg.cell == "lstm":
                    getattr(stack, f"bias_ih{suffix}")[H:2 * H] = cfg.forget_bias
                    getattr(stack, f"bias_hh{suffix}")[H:2 * H] = 0.0


def stack_directions(stack: nn.Module) -> tuple[str, ...]:
    """The directions of a recurrent stack, fused or unrolled: ("",) or ("", ".reverse")."""
    return BOTH_WAYS if stack.bidirectional else ONE_WAY


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

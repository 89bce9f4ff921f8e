"""A transformer encoder small enough to read: the self-attention counterpart of the recurrent stack.

    h = W_in x_t + p_t                                     input projection and a learned position p_t
    per layer (pre-norm):
        h = h + Attn(LN(h))                                 multi-head self-attention, residual
        h = h + W_down gelu(W_up LN(h))                     MLP of width 4 d, residual
    Attn: q, k, v = W_q a, W_k a, W_v a split into heads of d_head = d / heads,
          alpha = softmax(q k^T / sqrt(d_head)) over allowed keys, out = W_out concat_heads(alpha v)

Pre-norm, not post-norm: the layer norm sits on each branch's input, not on the sum. The residual
stream h then stays a plain sum, x's projection plus what every layer added, with an identity path
from the head back to the input; post-norm divides that path at every layer and usually needs a
learning-rate warm-up (Xiong et al. 2020), which the app's fixed-rate optimisers do not have. It also
makes h.{l}, the stream a probe records, read as "the input plus layers 0..l". There is no final layer
norm: the head reads the stream as recorded.

Keys a query may not see get weight exactly 0: padding (mask False) always, later positions when
`causal`. A query with no visible key at all (a padding position before every real one under a causal
mask) gets an all-zero row instead of NaN.

SeqModel builds it as `model.encoder` for cell "transformer" (d = hidden, heads, layers from the config), causal
where the task's IOSpec.causal says the target at t is a later input (charlm, sine), and uses the same module for
training and probes. The module takes (B, T, D_in) features; token tasks embed first (the embedding stays in SeqModel).
forward mirrors the recurrent stacks: (hs (B, T, d), None), and a one-output task's head reads the last
position hs[:, -1], as it does for the recurrent models (the one task that pads, pads on the left).
Why the last position rather than the mean over real positions: on the adding task (T=50, 1 layer,
2 heads, d=64, 5 seeds) the mean reaches eval MSE < 0.01 a little sooner (75 steps against 100), but it
does so with attention switched off too, as a sum of per-position terms; read at the last position,
the model stays at the baseline without attention. So it must attend to the two marked steps, its
attention maps show it finding them, and it faces the recurrent models' job: bring what the answer
needs to the final position.

Given a `record` dict, forward stores per layer l
    {prefix}h.{l}          the residual stream after layer l as T tensors (B, d) that stay in the graph,
                           like cells.UnrolledRNN's h_t, so autograd.grad(loss, record["h.0"]) is dL/dh_t
    {prefix}h.input        the stream entering layer 0 (W_in x_t + p_t), T tensors (B, d) likewise
    {prefix}attn.self.{l}  attention weights (B, heads, T, T): rows are queries, columns keys

Parameters (readable, stable names):
    input.weight, input.bias, position                       (position: (max_len, d))
    layers.{l}.attn_norm.*, layers.{l}.attn.{q,k,v,out}.*    layers.{l}.mlp_norm.*, layers.{l}.mlp.{up,down}.*
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import LIMITS
from .families import trace_name

MAX_LEN = int(LIMITS["seq_len"][1])  # learned positions cover every sequence length a run may use
POSITION_STD = 0.02  # positions start small so that early attention is driven by content


class Transformer(nn.Module):
    """Input projection + learned positions + `layers` pre-norm blocks; returns the residual stream."""

    def __init__(self, d_in: int, d_model: int, layers: int = 1, heads: int = 2, causal: bool = False,
                 max_len: int = MAX_LEN, generator: torch.Generator | None = None):
        super().__init__()
        if heads < 1 or d_model % heads:
            raise ValueError(f"the number of heads must divide hidden: {d_model} units do not split into {heads} heads")
        self.causal, self.max_len = causal, max_len
        self.input = _linear(d_in, d_model)
        self.position = nn.Parameter(torch.empty(max_len, d_model))
        self.layers = nn.ModuleList(Block(d_model, heads) for _ in range(layers))
        initialise(self, generator)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, record: dict | None = None, prefix: str = ""):
        """x: (B, T, D_in); mask: (B, T) bool, True at real positions. Returns (hs (B, T, d), None)."""
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequences of {T} steps are longer than the {self.max_len} positions this model learned")
        h = self.input(x) + self.position[:T]  # (B, T, d)
        allowed = visible_keys(T, mask, self.causal, x.device)  # (B or 1, 1, T, T)
        if record is not None:
            # The stream entering layer 0, per step: where a one-output task's gradient reaches every position
            # (after the last layer only the read position gets any). Compare draws its dL/dh_t.
            steps = list(h.unbind(1))  # T x (B, d)
            h = torch.stack(steps, dim=1)
            record[f"{prefix}{INPUT_STREAM}"] = steps
        for l, block in enumerate(self.layers):
            h, alpha = block(h, allowed)
            if record is not None:
                # Split the stream into per-step tensors and rebuild it from them, so that the tensors
                # recorded are the ones the rest of the model reads: their gradients are dL/dh_t.
                steps = list(h.unbind(1))  # T x (B, d)
                h = torch.stack(steps, dim=1)
                record[trace_name("h", l, prefix=prefix)] = steps
                record[trace_name("attn.self", l, prefix=prefix)] = alpha
        return h, None


INPUT_STREAM = "h.input"  # trace name of the stream entering layer 0, x's projection plus its position


class Block(nn.Module):
    """One pre-norm transformer layer: self-attention then an MLP, each added to the residual stream."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.attn_norm = nn.LayerNorm(d_model)
        self.attn = SelfAttention(d_model, heads)
        self.mlp_norm = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model)

    def forward(self, h: torch.Tensor, allowed: torch.Tensor):
        """h: (B, T, d). Returns the new stream (B, T, d) and the attention weights (B, heads, T, T)."""
        update, alpha = self.attn(self.attn_norm(h), allowed)
        h = h + update
        return h + self.mlp(self.mlp_norm(h)), alpha


class SelfAttention(nn.Module):
    """Multi-head scaled dot-product self-attention, written out so the weights alpha can be kept."""

    def __init__(self, d_model: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.out = (_linear(d_model, d_model) for _ in range(4))

    def forward(self, a: torch.Tensor, allowed: torch.Tensor):
        """a: (B, T, d) normalised stream; allowed: bool, broadcasts to (B, heads, T, T)."""
        B, T, d = a.shape
        d_head = d // self.heads
        q, k, v = (proj(a).view(B, T, self.heads, d_head).transpose(1, 2) for proj in (self.q, self.k, self.v))  # (B, heads, T, d_head)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d_head)  # (B, heads, T, T)
        # The most negative finite value rather than -inf: a row with no visible key stays finite (then 0).
        scores = scores.masked_fill(~allowed, torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=-1).masked_fill(~allowed, 0.0)  # (B, heads, T, T)
        mixed = (alpha @ v).transpose(1, 2).reshape(B, T, d)  # heads side by side again
        return self.out(mixed), alpha


class MLP(nn.Module):
    """Position-wise feed-forward layer of width 4 d."""

    def __init__(self, d_model: int):
        super().__init__()
        self.up = _linear(d_model, 4 * d_model)
        self.down = _linear(4 * d_model, d_model)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.down(F.gelu(self.up(h)))


def visible_keys(T: int, mask: torch.Tensor | None, causal: bool, device) -> torch.Tensor:
    """Which key each query may attend to: bool (B or 1, 1, T_query, T_key)."""
    allowed = torch.ones(1, 1, T, T, dtype=torch.bool, device=device)
    if causal:
        allowed = allowed.tril()  # query t sees keys 0..t
    if mask is not None:
        allowed = allowed & mask[:, None, None, :]  # padding keys are never seen
    return allowed


@torch.no_grad()
def initialise(model: Transformer, generator: torch.Generator | None = None) -> None:
    """Fresh weights drawn from generator only (None: torch's global generator, as torch.nn's own init).

    Linear weights ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), torch.nn.Linear's default range, with zero
    biases; positions ~ N(0, POSITION_STD^2); layer norms start as the identity."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            module.weight.uniform_(-bound, bound, generator=generator)
            module.bias.zero_()
        elif isinstance(module, nn.LayerNorm):
            module.reset_parameters()  # ones and zeros: no randomness
    model.position.normal_(0.0, POSITION_STD, generator=generator)


def _linear(n_in: int, n_out: int) -> nn.Linear:
    """An nn.Linear whose weights are left for `initialise`, so building one draws nothing from the global RNG."""
    return nn.utils.skip_init(nn.Linear, n_in, n_out)

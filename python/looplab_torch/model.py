"""Every looplab architecture as an nn.Module, following src/model/ (looplab's definitions, not the papers').

A model is a *recurrence* (src/model/transformer/mod.rs): a few states `[batch, seq, d]`, how each starts, and the
calls of one iteration, each `state <- block(sum of some states and the input embedding x)`:

| arch                 | states (start)      | calls per iteration                                   | head reads |
| feedforward          | h (x)               | h <- layers(h)  (block-wise with model.block)         | h          |
| looped, injection    | h (0)               | h <- block(h + x)                                     | h          |
| looped               | h (x)               | h <- block(h)                                         | h          |
| trm                  | y, z (fixed random) | inner x z <- net(x + y + z), then y <- net(y + z)     | y          |
| hrm                  | zH, zL (fixed rand) | inner x zL <- L(zL + zH + x), then zH <- H(zH + zL)   | zH         |

Parameter names are the PyTorch layout `looplab export --format torch` writes (nn.Linear's [out, in]); layout.py
maps them to looplab's names and back.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from . import config as cfg

EPS = 1e-5


class RMSNorm(nn.Module):
    """`x / sqrt(mean(x^2) + 1e-5)`, times a learned scale with model.norm_scale."""

    def __init__(self, d, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d)) if scale else None

    def forward(self, x):
        y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)
        return y * self.weight if self.weight is not None else y


class Mlp(nn.Module):
    """SwiGLU (`silu(gate) * up`, then down) or GELU (tanh form) from `n_in` to `hidden` and back."""

    def __init__(self, n_in, hidden, kind):
        super().__init__()
        self.kind = kind
        if kind == "swiglu":
            self.gate = nn.Linear(n_in, hidden, bias=False)
            self.up = nn.Linear(n_in, hidden, bias=False)
        else:
            self.fc = nn.Linear(n_in, hidden, bias=False)
        self.down = nn.Linear(hidden, n_in, bias=False)

    def forward(self, x):
        if self.kind == "swiglu":
            a = F.silu(self.gate(x)) * self.up(x)
        else:
            a = F.gelu(self.fc(x), approximate="tanh")
        return self.down(a)


def local_offsets(grid, radius, device):
    """`[seq, seq]`: the offset index `(dy+r)*(2r+1) + (dx+r)` under which query i sees key j, -1 outside the
    (2r+1)^2 window (ops/local_attention.rs's layout, the same for 1-D sequences)."""
    h, w = grid
    y = torch.arange(h * w, device=device) // w
    x = torch.arange(h * w, device=device) % w
    dy = y[None, :] - y[:, None]
    dx = x[None, :] - x[:, None]
    side = 2 * radius + 1
    inside = (dy.abs() <= radius) & (dx.abs() <= radius)
    return torch.where(inside, (dy + radius) * side + (dx + radius), torch.full_like(dy, -1))


class Attention(nn.Module):
    """Multi-head attention, scale 1/sqrt(head_dim), bidirectional or causal; local attention adds the learned
    bias per (head, offset) and attends only within `radius` on the grid."""

    def __init__(self, m):
        super().__init__()
        d = m["d_model"]
        self.heads, self.causal, self.radius = m["heads"], m["causal"], m["radius"]
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.out = nn.Linear(d, d, bias=False)
        self.local = m["attention"] == "local"
        self.rel_bias = nn.Parameter(torch.zeros(m["heads"], cfg.window(m))) if self.local else None
        self._offsets = {}

    def offsets(self, grid, device):
        key = (tuple(grid), device)
        if key not in self._offsets:
            self._offsets[key] = local_offsets(grid, self.radius, device)
        return self._offsets[key]

    def forward(self, x, grid):
        b, s, d = x.shape
        dh = d // self.heads
        split = lambda t: t.view(b, s, self.heads, dh).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.q(x)), split(self.k(x)), split(self.v(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if self.local:
            idx = self.offsets(grid, x.device)
            bias = self.rel_bias[:, idx.clamp(min=0)].masked_fill(idx < 0, float("-inf"))
            scores = scores + bias[None]
        if self.causal:
            scores = scores.masked_fill(torch.ones(s, s, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
        att = torch.softmax(scores, dim=-1) @ v
        return self.out(att.transpose(1, 2).reshape(b, s, d))


class TokenMlp(Mlp):
    """TRM's MLP-mixer: an MLP across the positions of each channel (weights per position)."""

    def __init__(self, m, seq):
        super().__init__(seq, m["mlp_hidden"], m["mlp"])

    def forward(self, x, grid):
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class Layer(nn.Module):
    """Pre-norm: `h += mix(norm1(h)); h += mlp(norm2(h))`. Post-norm: `h = norm1(h + mix(h)); h = norm2(h + mlp(h))`."""

    def __init__(self, m, seq):
        super().__init__()
        self.pre = m["norm"] == "pre"
        if m["mixer"] == "mlp":
            self.mix = TokenMlp(m, seq)
        else:
            self.attn = Attention(m)
        self.mlp = Mlp(m["d_model"], m["mlp_hidden"], m["mlp"])
        self.norm1 = RMSNorm(m["d_model"], m["norm_scale"])
        self.norm2 = RMSNorm(m["d_model"], m["norm_scale"])

    def mixing(self, x, grid):
        return self.mix(x, grid) if hasattr(self, "mix") else self.attn(x, grid)

    def forward(self, h, grid):
        if self.pre:
            h = h + self.mixing(self.norm1(h), grid)
            return h + self.mlp(self.norm2(h))
        h = self.norm1(h + self.mixing(h, grid))
        return self.norm2(h + self.mlp(h))


class InitStates(nn.Module):
    """The fixed random initial states (`Params::init_states`): TRM's y and z, HRM's zH and zL (`[d]` each), or
    each layer's feedback-memory start (`[memory, d]`), drawn from the seed, never trained."""

    def __init__(self, shapes):
        super().__init__()
        for i, shape in enumerate(shapes):
            self.register_buffer(str(i), torch.zeros(shape))

    def __getitem__(self, i):
        return getattr(self, str(i))

    def __len__(self):
        return len(list(self.buffers(recurse=False)))


def init_state_shapes(m):
    if m["arch"] in ("trm", "hrm"):
        return [(m["d_model"],)] * 2
    if m["memory"] > 0:
        return [(m["memory"], m["d_model"])] * m["layers"]
    return []


def recurrence(m):
    """(starts, answer state, calls): a start is "zero", "input" or ("random", i); a call is (first layer, layers,
    sources, output state) with a source "x" (the input embedding) or a state index."""
    block = (0, m["layers"])
    arch = m["arch"]
    if arch == "feedforward" or (arch == "looped" and not m["injection"]):
        return ["input"], 0, [(block, [0], 0)]
    if arch == "looped":
        return ["zero"], 0, [(block, [0, "x"], 0)]
    if arch == "trm":  # y = 0, z = 1
        calls = [(block, ["x", 0, 1], 1)] * m["inner"] + [(block, [0, 1], 0)]
        return [("random", 0), ("random", 1)], 0, calls
    # hrm: zH = 0, zL = 1
    calls = [(block, [1, 0, "x"], 1)] * m["inner"] + [((m["layers"], 2 * m["layers"]), [0, 1], 0)]
    return [("random", 0), ("random", 1)], 0, calls


class LoopLabModel(nn.Module):
    """A looplab model for `vocab` tokens and (with learned positions or the token MLP) inputs of `seq` tokens."""

    def __init__(self, config, vocab, seq):
        super().__init__()
        self.config = config
        m = self.m = config["model"]
        d = m["d_model"]
        self.vocab, self.seq = vocab, seq
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Embedding(seq, d) if m["positions"] == "learned" else None
        self.layers = nn.ModuleList(Layer(m, seq) for _ in range(cfg.weight_layers(m)))
        self.final_norm = RMSNorm(d, m["norm_scale"]) if m["norm"] == "pre" else None
        self.head = nn.Linear(d, vocab, bias=False)
        self.halt = nn.Linear(d, 1) if m["halting"] else None
        self.init_states = InitStates(init_state_shapes(m))
        self.starts, self.answer, self.calls = recurrence(m)

    # The pieces a training step is composed of (train.py's step, src/train/mod.rs's programs).

    def embed(self, tokens):
        x = self.tok_emb(tokens)
        if self.pos_emb is not None:
            if tokens.shape[1] != self.seq:
                raise ValueError(f"this model learned positions for {self.seq} tokens and got {tokens.shape[1]}")
            x = x + self.pos_emb.weight[None]
        return x

    def start(self, x):
        """Every state at its start for a new batch."""
        out = []
        for s in self.starts:
            if s == "zero":
                out.append(torch.zeros_like(x))
            elif s == "input":
                out.append(x)
            else:
                out.append(self.init_states[s[1]].to(x.dtype).expand_as(x))
        return out

    def run_call(self, call, states, x, grid):
        (first, end), sources, out = call
        parts = [x if s == "x" else states[s] for s in sources]
        h = parts[0]
        for p in parts[1:]:
            h = h + p
        if self.m["block"] > 0:
            h = self.blocked(h, range(first, end))
        else:
            for layer in self.layers[first:end]:
                h = layer(h, grid)
        states = list(states)
        states[out] = h
        return states

    def iterate(self, states, x, grid, calls=None):
        """One iteration (or its calls `calls`, a range of call indices) from `states`."""
        for i in calls if calls is not None else range(len(self.calls)):
            states = self.run_call(self.calls[i], states, x, grid)
        return states

    def blocked(self, h, layers):
        """Block-wise processing with the feedback memory (transformer/memory.rs): layer l of block i runs on
        `[M_{i-1}^l ; X_{i-1}^{l-1} ; X_i^{l-1}]`; its first `memory` output rows are M_i^l, its last `block` rows
        X_i^l."""
        blk, mem = self.m["block"], self.m["memory"]
        b, s, d = h.shape
        if s % blk:
            raise ValueError(f"model.block {blk} does not divide the sequence length {s}")
        layers = list(layers)
        below = [h[:, i * blk:(i + 1) * blk] for i in range(s // blk)]
        memory = [self.init_states[l].to(h.dtype).expand(b, mem, d) for l in layers] if mem else None
        outputs = [[None] * len(below) for _ in layers]
        for i in range(len(below)):
            for j, l in enumerate(layers):
                inputs = below if j == 0 else outputs[j - 1]
                parts = ([memory[j]] if mem else []) + ([inputs[i - 1]] if i > 0 else []) + [inputs[i]]
                window = torch.cat(parts, dim=1)
                y = self.layers[l](window, (1, window.shape[1]))
                if mem:
                    memory[j] = y[:, :mem]
                outputs[j][i] = y[:, -blk:]
        return torch.cat(outputs[-1], dim=1)

    def head_input(self, state):
        return self.final_norm(state) if self.final_norm is not None else state

    def forward(self, tokens, grid=None, depth=None):
        """Logits `[batch, seq, vocab]` after `depth` iterations (default: the training depth)."""
        grid = grid or (1, tokens.shape[1])
        depth = depth or cfg.training_depth(self.config)
        x = self.embed(tokens)
        states = self.start(x)
        for _ in range(depth):
            states = self.iterate(states, x, grid)
        return self.head(self.head_input(states[self.answer]))


def score(model, state, targets, scale, count, batch):
    """The output head and its loss on `state` (ops/cross_entropy.rs, ops/halting.rs).

    Returns `(loss, sums)`: `loss` is what the backward differentiates, `scale` times the mean cross-entropy over
    `count` supervised positions (the whole batch's, across processes) plus, with halting, `scale` times the
    mean over `batch` examples of the halting head's binary cross-entropy against "every supervised position of
    the example is right now"; `sums` holds the unscaled summed loss and the correct and supervised counts."""
    hi = model.head_input(state)
    logits = model.head(hi)
    mask = targets >= 0
    safe = targets.clamp(min=0)
    if model.config["train"]["stablemax"]:
        s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits.clamp(max=0)))
        losses = s.sum(-1).log() - s.gather(-1, safe[..., None]).squeeze(-1).log()
    else:
        losses = torch.logsumexp(logits, -1) - logits.gather(-1, safe[..., None]).squeeze(-1)
    losses = losses * mask
    right = (logits.argmax(-1) == targets) & mask
    loss = scale * losses.sum() / max(count, 1)
    if model.halt is not None:
        has_target = mask.any(-1)
        exact = (has_target & (right | ~mask).all(-1)).to(hi.dtype)
        q = model.halt(hi[:, 0]).squeeze(-1)
        bce = F.binary_cross_entropy_with_logits(q, exact, reduction="none") * has_target
        loss = loss + scale * bce.sum() / batch
    sums = {"loss": losses.sum().detach(), "correct": right.sum(), "supervised": mask.sum(),
            "exact": (mask.any(-1) & (right | ~mask).all(-1)).sum(), "has_target": mask.any(-1).sum()}
    return loss, sums

#!/usr/bin/env python3
"""looplab beside PyTorch eager: ms per training step of the same models, measured in one sitting.

For each bench entry this runs `looplab bench --json --only NAME` (or reads a saved report with
--from-json), rebuilds the model it measured from the report (config, input shape, every parameter's shape,
and the depth each step ran), trains it in PyTorch eager for the same number of steps, and prints both times
and their ratio. Standalone: only torch and the standard library.

    python python/looplab_torch/bench.py [--backend cpu|gpu] [--device cpu|cuda] [--threads N] [--steps N]
                                          [--only NAME,NAME] [--looplab PATH] [--from-json FILE] [--out FILE]
                                          [--entry-timeout SECONDS]

What the PyTorch side mirrors (src/model, src/train): token embedding (+ learned positions), the recurrence of
each architecture (feedforward; looped with or without input injection; TRM: `inner` z <- net(x + y + z) then
y <- net(y + z); HRM: `inner` zL <- L(zL + zH + x) then zH <- H(zH + zL); TRM/HRM states start from fixed
random vectors), pre-norm (h + f(norm(h)), final norm) or post-norm (norm(h + f(h))) layers with RMSNorm
(eps 1e-5, optional scale), multi-head attention (F.scaled_dot_product_attention; causal when configured;
local attention as a dense mask plus the learned per-offset bias, which for these grid sizes is what an eager
PyTorch user would write) or TRM's token MLP, SwiGLU or tanh-GELU MLPs, no biases, softmax or stablemax
cross-entropy, the looplab step's depth (iterations without gradient under no_grad, the last `backprop` with
gradient, HRM's one-step gradient, deep supervision's segments continuing detached states), gradient-norm
clipping, AdamW with weight decay on matrices and embeddings only, the warm-up learning rate, the weight EMA,
and the device-side loss / accuracy sums. The tensor shapes are checked against looplab's, name by name.
Not mirrored (no effect on the step's cost): which positions are supervised (PyTorch scores every position;
looplab's kernel also runs over every row), the data (random tokens of the right vocabulary), the skip of
non-finite steps. Not modelled at all (refused): block-wise processing / feedback memory, the halting head,
progressive loss with alpha < 1.
"""
import argparse
import json
import math
import os
import pathlib
import subprocess
import sys
import time

# PyTorch's OpenMP threads spin while they wait unless told otherwise, which collapses on a machine shared with
# other work (2 cores at load 14: grok-ff1 2380 ms/step spinning, 140 ms passive); looplab's rayon threads
# sleep when idle. Set before torch loads; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]

# The entries of the side-by-side table: the reference shapes of shared/bench/torch_ref.py and the presets.
DEFAULT_ENTRIES = [
    "ref:grok-ff1",
    "ref:sudoku6-loop",
    "ref:maze15-loop",
    "grokking",
    "sudoku-6x6",
    "sudoku-6x6-trm",
    "sudoku-6x6-hrm",
    "sudoku-9x9",
    "maze",
]

EPS = 1e-5


def rms_norm(x, weight):
    if hasattr(F, "rms_norm"):
        return F.rms_norm(x, (x.shape[-1],), weight, EPS)
    y = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS)
    return y if weight is None else y * weight


class Norm(nn.Module):
    def __init__(self, d, scale):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d)) if scale else None

    def forward(self, x):
        return rms_norm(x, self.weight)


def activation(kind, u):
    if kind == "swiglu":
        gate, up = u.chunk(2, -1)
        return F.silu(gate) * up
    return F.gelu(u, approximate="tanh")


def local_offsets(grid, radius):
    """[seq, seq] offset index o = (dy+r)*(2r+1) + (dx+r) of key j for query i, -1 outside the window."""
    height, width = grid
    side = 2 * radius + 1
    y = torch.arange(height * width) // width
    x = torch.arange(height * width) % width
    dy = y[None, :] - y[:, None]
    dx = x[None, :] - x[:, None]
    inside = (dy.abs() <= radius) & (dx.abs() <= radius)
    return torch.where(inside, (dy + radius) * side + (dx + radius), torch.full_like(dy, -1))


class Layer(nn.Module):
    def __init__(self, m, shape):
        super().__init__()
        d, f = m["d_model"], m["mlp_hidden"]
        width = 2 * f if m["mlp"] == "swiglu" else f
        self.m, self.heads = m, m["heads"]
        self.norm1, self.norm2 = Norm(d, m["norm_scale"]), Norm(d, m["norm_scale"])
        self.attention = m["mixer"] == "attention"
        if self.attention:
            self.qkv = nn.Linear(d, 3 * d, bias=False)
            self.out = nn.Linear(d, d, bias=False)
            if m["attention"] == "local":
                window = (2 * m["radius"] + 1) ** 2
                self.rel_bias = nn.Parameter(torch.zeros(self.heads, window))
                self.register_buffer("offsets", local_offsets(shape["grid"], m["radius"]), persistent=False)
        else:
            seq = shape["seq"]
            self.mix_in = nn.Linear(seq, width, bias=False)
            self.mix_out = nn.Linear(f, seq, bias=False)
        self.mlp_in = nn.Linear(d, width, bias=False)
        self.mlp_out = nn.Linear(f, d, bias=False)

    def mix(self, x):
        if not self.attention:  # TRM's MLP across positions, per channel
            return self.mix_out(activation(self.m["mlp"], self.mix_in(x.transpose(1, 2)))).transpose(1, 2)
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        mask = None
        if hasattr(self, "rel_bias"):
            bias = self.rel_bias[:, self.offsets.clamp(min=0)]
            mask = bias.masked_fill(self.offsets < 0, float("-inf")).to(x.dtype)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.m["causal"])
        return self.out(a.transpose(1, 2).reshape(b, s, d))

    def mlp(self, x):
        return self.mlp_out(activation(self.m["mlp"], self.mlp_in(x)))

    def forward(self, h):
        if self.m["norm"] == "pre":
            s1 = h + self.mix(self.norm1(h))
            return s1 + self.mlp(self.norm2(s1))
        s1 = self.norm1(h + self.mix(h))
        return self.norm2(s1 + self.mlp(s1))

    def tensors(self, l):
        """This layer's parameters under looplab's checkpoint names, in looplab's [in, out] orientation."""
        t = {f"layers.{l}.mlp.in": self.mlp_in.weight.T, f"layers.{l}.mlp.out": self.mlp_out.weight.T}
        if self.attention:
            t[f"layers.{l}.attn.qkv"] = self.qkv.weight.T
            t[f"layers.{l}.attn.out"] = self.out.weight.T
            if hasattr(self, "rel_bias"):
                t[f"layers.{l}.attn.rel_bias"] = self.rel_bias
        else:
            t[f"layers.{l}.mix.in"] = self.mix_in.weight.T
            t[f"layers.{l}.mix.out"] = self.mix_out.weight.T
        if self.norm1.weight is not None:
            t[f"layers.{l}.norm1"], t[f"layers.{l}.norm2"] = self.norm1.weight, self.norm2.weight
        return t


def recurrence(m):
    """(starts, answer state, calls): a call is (layer range, summed sources, state written); a source is
    "x" (the input embedding) or a state index; a start is "zero", "x" or ("random", i). As src/model."""
    block = range(m["layers"])
    arch = m["arch"]
    if arch == "feedforward" or (arch == "looped" and not m["injection"]):
        return ["x"], 0, [(block, [0], 0)]
    if arch == "looped":
        return ["zero"], 0, [(block, [0, "x"], 0)]
    if arch == "trm":  # y = 0, z = 1
        return [("random", 0), ("random", 1)], 0, [(block, ["x", 0, 1], 1)] * m["inner"] + [(block, [0, 1], 0)]
    if arch == "hrm":  # zH = 0, zL = 1
        high = range(m["layers"], 2 * m["layers"])
        return [("random", 0), ("random", 1)], 0, [(block, [1, 0, "x"], 1)] * m["inner"] + [(high, [0, 1], 0)]
    raise SystemExit(f"unknown model.arch {arch!r}")


class Model(nn.Module):
    def __init__(self, config, shape, tensors):
        super().__init__()
        m, t = config["model"], config["train"]
        refused = [
            (m.get("block", 0) > 0, "block-wise processing (model.block)"),
            (m.get("halting", False), "the halting head (model.halting)"),
            (t.get("depth") == "progressive" and t.get("progressive_alpha", 1.0) < 1.0, "progressive_alpha < 1"),
        ]
        for bad, what in refused:
            if bad:
                raise SystemExit(f"bench.py does not model {what}")
        self.m, self.t = m, t
        d, vocab = m["d_model"], shape["vocab"]
        self.tok_emb = nn.Embedding(vocab, d)
        self.pos_emb = nn.Parameter(torch.randn(tensors["pos_emb"][0], d)) if m["positions"] == "learned" else None
        layers = 2 * m["layers"] if m["arch"] == "hrm" else m["layers"]
        self.layers = nn.ModuleList(Layer(m, shape) for _ in range(layers))
        self.final_norm = Norm(d, m["norm_scale"]) if m["norm"] == "pre" else None
        self.head = nn.Linear(d, vocab, bias=False)
        self.starts, self.answer, self.calls = recurrence(m)
        self.register_buffer("init_states", torch.randn(2, d), persistent=False)
        self.one_step = m["arch"] == "hrm" and t["backprop"] == 1
        self.states = None
        self.zero_init()

    def zero_init(self):
        if self.m["zero_init"]:
            with torch.no_grad():
                for layer in self.layers:
                    for p in (layer.mlp_out.weight, layer.out.weight if layer.attention else layer.mix_out.weight):
                        p.zero_()

    def tensors(self):
        t = {"tok_emb": self.tok_emb.weight, "head": self.head.weight.T}
        if self.pos_emb is not None:
            t["pos_emb"] = self.pos_emb
        if self.final_norm is not None and self.final_norm.weight is not None:
            t["final_norm"] = self.final_norm.weight
        for l, layer in enumerate(self.layers):
            t.update(layer.tensors(l))
        return t

    def run_calls(self, states, x, calls):
        states = list(states)
        for layers, sources, out in calls:
            inputs = [x if s == "x" else states[s] for s in sources]
            h = inputs[0]
            for other in inputs[1:]:
                h = h + other
            for l in layers:
                h = self.layers[l](h)
            states[out] = h
        return states

    def step(self, tokens, depth):
        """The forward of one looplab training step; returns the answer state's logits."""
        b, s = tokens.shape
        x = self.tok_emb(tokens)
        if self.pos_emb is not None:
            x = x + self.pos_emb[:s]
        if depth["new_batch"] or self.states is None:
            states = []
            for start in self.starts:
                if start == "zero":
                    states.append(torch.zeros_like(x))
                elif start == "x":
                    states.append(x)
                else:
                    states.append(self.init_states[start[1]].expand(b, s, -1))
        else:
            states = self.states
        total, k = depth["iterations"], depth["backprop"]
        led = len(self.calls) - 2 if self.one_step else 0
        with torch.no_grad():
            for _ in range(total - k):
                states = self.run_calls(states, x, self.calls)
            states = self.run_calls(states, x, self.calls[:led])
        states = self.run_calls(states, x, self.calls[led:])
        for _ in range(k - 1):
            states = self.run_calls(states, x, self.calls)
        self.states = [st.detach() for st in states]
        h = states[self.answer]
        return self.head(self.final_norm(h) if self.final_norm is not None else h)


def stablemax_cross_entropy(logits, targets):
    s = torch.where(logits >= 0, logits + 1, 1 / (1 - logits))
    return (s.sum(-1).log() - s.gather(-1, targets[:, None]).squeeze(-1).log()).mean()


class Twin:
    """A PyTorch model and optimizer for one looplab bench figure."""

    def __init__(self, fig, device):
        self.fig, self.device = fig, device
        config, shape = fig["config"], fig["shape"]
        torch.manual_seed(config["seed"])
        self.model = Model(config, shape, fig["tensors"]).to(device)
        self.check_tensors()
        t = config["train"]
        # looplab decays matrices and embeddings; norm scales and local attention's bias are not decayed.
        named = list(self.model.named_parameters())
        decayed = [p for n, p in named if p.dim() == 2 and not n.endswith("rel_bias")]
        others = [p for n, p in named if not (p.dim() == 2 and not n.endswith("rel_bias"))]
        groups = [{"params": decayed, "weight_decay": t["weight_decay"]}, {"params": others, "weight_decay": 0.0}]
        self.opt = torch.optim.AdamW(groups, lr=t["lr"], betas=(t["beta1"], t["beta2"]), eps=1e-8)
        self.ema = [p.detach().clone() for p in self.model.parameters()] if t["ema"] > 0 else None
        self.params = list(self.model.parameters())
        b, s, v = shape["batch"], shape["seq"], shape["vocab"]
        # Fresh batches cycle through a few uploaded once (looplab uploads each sampled batch's tokens).
        pool = 1 if t["batch_size"] == 0 else 4
        self.batches = [
            (torch.randint(0, v, (b, s), device=device), torch.randint(0, v, (b * s,), device=device))
            for _ in range(pool)
        ]
        self.batch = 0
        self.metrics = torch.zeros(3, device=device)
        self.steps = 0

    def check_tensors(self):
        ours = {name: list(p.shape) for name, p in self.model.tensors().items()}
        theirs = self.fig["tensors"]
        if ours != theirs:
            missing = {k: v for k, v in theirs.items() if ours.get(k) != v}
            extra = {k: v for k, v in ours.items() if theirs.get(k) != v}
            raise SystemExit(f"{self.fig['name']}: the PyTorch model differs from looplab's: looplab has {missing}, "
                             f"PyTorch has {extra}")
        n = sum(p.numel() for p in self.model.parameters())
        if n != self.fig["params"]:
            raise SystemExit(f"{self.fig['name']}: {n} parameters in PyTorch, {self.fig['params']} in looplab")

    def lr_at(self, step):
        t = self.fig["config"]["train"]
        if step <= t["warmup"]:
            return t["lr"] * step / max(t["warmup"], 1)
        if t["schedule"] == "cosine":
            progress = min((step - t["warmup"]) / max(t["steps"] - t["warmup"], 1), 1.0)
            return t["lr"] * 0.5 * (1 + math.cos(math.pi * progress))
        return t["lr"]

    def step(self, depth):
        t = self.fig["config"]["train"]
        if depth["new_batch"]:
            self.batch = (self.batch + 1) % len(self.batches)
        tokens, targets = self.batches[self.batch]
        self.steps += 1
        for g in self.opt.param_groups:
            g["lr"] = self.lr_at(self.steps)
        logits = self.model.step(tokens, depth).reshape(-1, self.fig["shape"]["vocab"])
        if t["stablemax"]:
            loss = stablemax_cross_entropy(logits, targets)
        else:
            loss = F.cross_entropy(logits, targets)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        # looplab always reduces the gradient norm (a metric) and clips when grad_clip > 0.
        norm = torch.nn.utils.clip_grad_norm_(self.params, t["grad_clip"] if t["grad_clip"] > 0 else float("inf"))
        self.opt.step()
        if self.ema is not None:
            torch._foreach_lerp_(self.ema, [p.detach() for p in self.params], 1 - t["ema"])
        with torch.no_grad():  # the device-side metric sums, never read inside a step
            correct = (logits.argmax(-1) == targets).sum()
            self.metrics += torch.stack([loss.detach(), correct.to(loss.dtype), norm.detach() ** 2])

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()


def time_twin(fig, device):
    """ms per step over the figure's timed steps, replaying looplab's depths; warm-up replays its warm-up step."""
    twin = Twin(fig, device)
    warmup, timed = fig["depths"][0], fig["depths"][1:]
    for _ in range(3):
        twin.step(warmup)
    twin.sync()
    start = time.perf_counter()
    for depth in timed:
        twin.step(depth)
    twin.sync()
    return 1e3 * (time.perf_counter() - start) / len(timed), sum(p.numel() for p in twin.params)


def looplab_figure(args, name):
    cmd = [args.looplab, "bench", "--json", "--backend", args.backend, "--only", name, "--steps", str(args.steps)]
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=args.entry_timeout)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"{' '.join(cmd)} ran past --entry-timeout {args.entry_timeout} s") from None
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    report = json.loads(out.stdout)
    return report["device"].rstrip("; "), report["steps"][0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backend", default="cpu", choices=["cpu", "gpu"], help="looplab's backend")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="PyTorch's device")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads on both sides (cpu)")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per entry, both sides")
    ap.add_argument("--only", default=",".join(DEFAULT_ENTRIES), help="comma-separated bench entries")
    ap.add_argument("--looplab", default=os.environ.get("LOOPLAB", str(REPO / "target/release/looplab")))
    ap.add_argument("--from-json", help="a saved `looplab bench --json` report instead of running looplab")
    ap.add_argument("--out", help="also write the rows as JSON here")
    ap.add_argument("--entry-timeout", type=float, default=None, help="seconds one looplab run may take")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: PyTorch sees no CUDA device")
    torch.set_num_threads(args.threads)
    saved = None
    if args.from_json:
        report = json.loads(pathlib.Path(args.from_json).read_text())
        saved = {f["name"]: (report["device"].rstrip("; "), f) for f in report["steps"]}
    torch_device = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"PyTorch {torch.__version__} on {torch_device} (OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}); "
          f"looplab --backend {args.backend}; the same timed steps and depths on both sides")
    print(f"{'entry':<18} {'params':>8} {'steps':>5} {'looplab ms':>11} {'torch ms':>10} {'speed':>7}"
          "  (ms per step; speed = torch ms / looplab ms)")
    rows, failed = [], []
    for name in [n for n in args.only.split(",") if n]:
        try:
            if saved is not None:
                if name not in saved:
                    raise RuntimeError(f"{name} is not in {args.from_json}")
                device, fig = saved[name]
            else:
                device, fig = looplab_figure(args, name)
            if fig["backend"] == "cpu" and fig["threads"] != torch.get_num_threads():
                raise RuntimeError(f"looplab ran {fig['threads']} threads, PyTorch {torch.get_num_threads()}")
            torch_ms, params = time_twin(fig, args.device)
        except (RuntimeError, SystemExit, KeyError) as e:
            print(f"{name:<18} failed: {e}", flush=True)
            failed.append(name)
            continue
        row = {"name": name, "params": params, "looplab_ms": fig["ms_per_step"], "torch_ms": torch_ms,
               "speed": torch_ms / fig["ms_per_step"], "looplab_device": device, "torch_device": torch_device,
               "torch": torch.__version__, "steps": len(fig["depths"]) - 1, "threads": torch.get_num_threads()}
        rows.append(row)
        print(f"{name:<18} {params:>8} {row['steps']:>5} {row['looplab_ms']:>11.1f} {torch_ms:>10.1f} "
              f"{row['speed']:>6.2f}x", flush=True)
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(rows, indent=1) + "\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

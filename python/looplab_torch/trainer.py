"""looplab's training semantics (src/train/mod.rs, ops/adamw.rs) on a LoopLabModel.

A step draws its batch and depth from the `"batches"` stream exactly as looplab does, then runs
`start, iterate x (T-k) without gradient, [HRM: the first calls of the last cycle without gradient], the last k
iterations with gradient` and the loss (progressive depth: n ~ U[0, loops) iterations without gradient, k ~ U[1,
loops-n] with; alpha < 1 adds a full-depth pass weighted 1-alpha; random depth: T ~ Poisson(lambda), lambda
log-normal around loops, clamped to 1..2*loops; deep supervision: `train.segments` steps per batch, each continuing
from the previous one's detached states). AdamW is looplab's: global-norm clipping by min(1, clip/(norm+1e-6)),
weight decay `p -= lr*wd*p` on the matrices and embeddings only, bias-corrected moments, eps 1e-8, the whole step
skipped when the gradient norm is not finite (the EMA still moves), linear warmup then constant or cosine.

With `world` > 1 (torchrun) each process takes its contiguous share of every batch and the step runs under
DistributedDataParallel; the loss is normalised by the whole batch's supervised count, so the averaged gradient
is the one looplab computes on the whole batch.
"""

import copy
import math
import time

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from . import config as cfg
from . import layout
from .model import LoopLabModel, score
from .rng import Rng, poisson

TRAIN_EVAL_EXAMPLES = 2048
EVAL_ROWS = 8192


class Diverged(RuntimeError):
    pass


class Step(nn.Module):
    """One training step's forward, as one module call (so DistributedDataParallel sees one forward and one
    backward per step). Returns the loss to differentiate, each scored pass's sums, and the states."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, tokens, targets, grid, plan, carried, count, batch):
        model, t = self.model, self.model.config["train"]
        total, k, led, new_batch, alpha = plan
        x = model.embed(tokens)
        loss, sums = 0.0, []
        if alpha < 1.0:  # the full-depth pass of progressive loss with alpha < 1, from the start
            states = model.start(x)
            for _ in range(model.m["loops"]):
                states = model.iterate(states, x, grid)
            part, s = score(model, states[model.answer], targets, 1.0 - alpha, count, batch)
            loss, sums = loss + part, sums + [s]
        states = model.start(x) if new_batch else carried
        with torch.no_grad():  # constants to the backward (detached)
            for _ in range(total - k):
                states = model.iterate(states, x, grid)
            if led:
                states = model.iterate(states, x, grid, range(led))
        for i in range(k):
            states = model.iterate(states, x, grid, range(led, len(model.calls)) if i == 0 else None)
        part, s = score(model, states[model.answer], targets, alpha, count, batch)
        return loss + part, sums + [s], states


def stored_iterations(config):
    m, t = config["model"], config["train"]
    if m["arch"] == "feedforward" or (m["arch"] == "hrm" and t["backprop"] == 1):
        return 1
    if t["depth"] == "random" and t["backprop"] == 0:
        return 2 * m["loops"]
    return t["backprop"] if t["backprop"] > 0 else m["loops"]


def lr_at(config, step):
    t = config["train"]
    if step <= t["warmup"]:
        return t["lr"] * step / max(t["warmup"], 1)
    if t["schedule"] == "constant":
        return t["lr"]
    progress = (step - t["warmup"]) / max(t["steps"] - t["warmup"], 1)
    return t["lr"] * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


class Trainer:
    """The twin of looplab's Trainer on `splits` (from `layout.read_data`; the first is the training split)."""

    def __init__(self, config, vocab, splits, device="cpu", dtype=torch.float32, rank=0, world=1):
        self.config, self.vocab, self.splits = config, vocab, splits
        self.device, self.dtype, self.rank, self.world = torch.device(device), dtype, rank, world
        m, t = config["model"], config["train"]
        seq = max(s["tokens"].shape[1] for s in splits)
        self.model = LoopLabModel(config, vocab, seq)
        layout.init(self.model, config["seed"])
        self.model.to(device=self.device, dtype=dtype)
        self.decay = layout.decayed(self.model)
        self.named = list(self.model.named_parameters())
        self.adam_m = {n: torch.zeros_like(p) for n, p in self.named}
        self.adam_v = {n: torch.zeros_like(p) for n, p in self.named}
        self.ema = {n: p.detach().clone() for n, p in self.named} if t["ema"] > 0 else None
        self.eval_model = copy.deepcopy(self.model) if self.ema is not None else self.model
        self.batch_rng = Rng.fork(config["seed"], "batches")
        self.step, self.history, self.elapsed_before, self.started = 0, [], 0.0, time.time()
        self.stored = stored_iterations(config)
        self.batch_due, self.carried = True, None
        self.batch = t["batch_size"] or splits[0]["tokens"].shape[0]
        if self.batch < world:
            raise ValueError(f"a batch of {self.batch} examples cannot be shared by {world} processes")
        self.sums = torch.zeros(4, dtype=torch.float64, device=self.device)  # loss, correct, supervised, |g|^2
        self.steps_since_read = 0
        runner = Step(self.model)
        if world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # Only a looped model without injection can leave the embeddings out of a step's gradient (when the
            # iterations with gradient do not reach its start).
            unused = m["arch"] == "looped" and not m["injection"]
            runner = nn.parallel.DistributedDataParallel(runner, device_ids=ids, broadcast_buffers=False,
                                                         find_unused_parameters=unused)
        self.runner = runner

    def sample_depth(self):
        """(iterations this step runs, how many of the last ones the gradient flows through)."""
        m, t = self.config["model"], self.config["train"]
        if t["depth"] == "fixed":
            return m["loops"], min(self.stored, m["loops"])
        if t["depth"] == "random":
            sigma = 0.5
            tau = math.log(m["loops"]) - sigma * sigma / 2.0 + sigma * self.batch_rng.normal()
            total = min(max(poisson(math.exp(tau), self.batch_rng), 1), 2 * m["loops"])
            return total, min(self.stored, total)
        n = self.batch_rng.below(m["loops"])
        k = 1 + self.batch_rng.below(min(self.stored, m["loops"] - n))
        return n + k, k

    def next_batch(self):
        """This process's share of the step's batch (every process draws the same ids)."""
        split = self.splits[0]
        n = split["tokens"].shape[0]
        if self.config["train"]["batch_size"] > 0:
            ids = torch.tensor([self.batch_rng.below(n) for _ in range(self.batch)])
        else:
            ids = torch.arange(n)
        lo, hi = self.rank * self.batch // self.world, (self.rank + 1) * self.batch // self.world
        self.tokens = split["tokens"][ids[lo:hi]].to(self.device)
        self.targets = split["targets"][ids[lo:hi]].to(self.device)
        self.count = int((split["targets"][ids] >= 0).sum())

    def step_once(self):
        m, t = self.config["model"], self.config["train"]
        new_batch = self.batch_due or self.step % t["segments"] == 0
        if new_batch:
            self.next_batch()
        self.batch_due = False
        total, k = self.last_depth = self.sample_depth()
        self.step += 1
        per = len(self.model.calls)
        led = per - 2 if m["arch"] == "hrm" and t["backprop"] == 1 else 0
        alpha = t["progressive_alpha"] if t["depth"] == "progressive" else 1.0
        grid = self.splits[0]["grid"]
        plan = (total, k, led, new_batch, alpha)
        loss, sums, states = self.runner(self.tokens, self.targets, grid, plan, self.carried, self.count, self.batch)
        self.carried = [s.detach() for s in states]
        for _, p in self.named:
            p.grad = None
        (loss * self.world).backward()
        for s in sums:
            self.sums[:3] += torch.stack([s[k].to(torch.float64) for k in ("loss", "correct", "supervised")])
        self.optimize(lr_at(self.config, self.step))
        self.steps_since_read += 1

    @torch.no_grad()
    def optimize(self, lr):
        t = self.config["train"]
        f32 = np.float32
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for _, p in self.named]
        norm_sq = torch.stack([g.pow(2).sum() for g in grads]).sum()
        self.sums[3] += norm_sq.to(torch.float64)
        ok = torch.isfinite(norm_sq)
        clip = t["grad_clip"]
        scale = torch.clamp(clip / (norm_sq.sqrt() + 1e-6), max=1.0) if clip > 0 else torch.ones_like(norm_sq)
        scale = torch.where(ok, scale, torch.zeros_like(scale))
        b1, b2, step = f32(t["beta1"]), f32(t["beta2"]), f32(self.step)
        c1, c2 = float(f32(1) - b1 ** step), float(f32(1) - b2 ** step)
        lr = float(f32(lr))
        for (name, p), g in zip(self.named, grads):
            g = g * scale
            m = self.adam_m[name].mul(float(b1)).add_(g, alpha=float(1 - b1))
            v = self.adam_v[name].mul(float(b2)).add_(g * g, alpha=float(1 - b2))
            new = p.clone()
            if name in self.decay:
                new.sub_(new, alpha=lr * t["weight_decay"])
            new.sub_(lr * (m / c1) / ((v / c2).sqrt() + 1e-8))
            # A step whose gradient norm is not finite leaves weights and moments as they were.
            p.copy_(torch.where(ok, new, p))
            self.adam_m[name].copy_(torch.where(ok, m, self.adam_m[name]))
            self.adam_v[name].copy_(torch.where(ok, v, self.adam_v[name]))
            if self.ema is not None:
                self.ema[name].mul_(t["ema"]).add_(p, alpha=1.0 - t["ema"])

    def elapsed(self):
        return self.elapsed_before + time.time() - self.started

    @torch.no_grad()
    def evaluate(self, index, depth=None):
        """(loss, token accuracy, exact accuracy) of split `index` after `depth` iterations (default: the
        training depth), with the EMA weights where the run keeps them; the training split on its first 2048."""
        model = self.eval_model
        if self.ema is not None:
            layout.load_params(model, self.ema)
        depth = depth or cfg.training_depth(self.config)
        s = self.splits[index]
        n = s["tokens"].shape[0] if index > 0 else min(s["tokens"].shape[0], TRAIN_EVAL_EXAMPLES)
        seq = s["tokens"].shape[1]
        chunk = max(1, EVAL_ROWS // seq)
        total = {"loss": 0.0, "correct": 0, "supervised": 0, "exact": 0, "has_target": 0}
        for start in range(0, n, chunk):
            tokens = s["tokens"][start:min(n, start + chunk)].to(self.device)
            targets = s["targets"][start:min(n, start + chunk)].to(self.device)
            x = model.embed(tokens)
            states = model.start(x)
            for _ in range(depth):
                states = model.iterate(states, x, s["grid"])
            _, sums = score(model, states[model.answer], targets, 1.0, 1, 1)
            for key in total:
                total[key] += float(sums[key])
        sup = max(total["supervised"], 1)
        return {"loss": total["loss"] / sup, "accuracy": total["correct"] / sup,
                "exact": total["exact"] / max(total["has_target"], 1)}

    def record(self):
        """looplab's history record: the training loss since the last record, every split's scores."""
        sums = self.sums.clone()
        if self.world > 1:
            dist.all_reduce(sums[:3])  # the gradient norm is already the same everywhere
        loss = float(sums[0] / max(float(sums[2]), 1.0))
        grad_norm = math.sqrt(float(sums[3]) / max(self.steps_since_read, 1))
        if not (math.isfinite(loss) and math.isfinite(grad_norm)):
            what = "the loss is NaN/Inf" if not math.isfinite(loss) else "the gradient norm is NaN/Inf"
            since = f"the record at step {self.history[-1]['step']}" if self.history else "the start"
            raise Diverged(f"training diverged at step {self.step}: {what} in the steps since {since}. Try a lower "
                           "learning rate (train.lr), gradient clipping (train.grad_clip) or a longer warmup")
        self.sums.zero_()
        self.steps_since_read = 0
        if self.rank != 0:
            return None
        splits = [{"split": s["name"], **self.evaluate(i)} for i, s in enumerate(self.splits)]
        train, test = splits[0], splits[1]
        record = {"step": self.step, "loss": loss, "train_acc": train["accuracy"], "test_acc": test["accuracy"],
                  "train_exact": train["exact"], "test_exact": test["exact"], "test_loss": test["loss"],
                  "grad_norm": grad_norm, "lr": lr_at(self.config, self.step), "elapsed_s": self.elapsed(),
                  "splits": splits}
        self.history.append(record)
        return record

    def save(self, path, extra=None):
        layout.save_checkpoint(path, self.model, self.step, self.batch_rng.state, self.elapsed(),
                               self.adam_m, self.adam_v, self.ema,
                               {"trained_by": "looplab_torch", **(extra or {})})

    def restore(self, path):
        """Continues from a looplab checkpoint (written by `looplab train` or by this package)."""
        step, rng, elapsed, live, m, v, ema = layout.read_checkpoint(path, self.model)
        layout.load_params(self.model, live)
        for own, stored in ((self.adam_m, m), (self.adam_v, v), (self.ema, ema)):
            if own is not None:
                for n in own:
                    own[n].copy_(stored[n].to(own[n].dtype))
        self.step, self.batch_rng.state, self.elapsed_before, self.started = step, rng, elapsed, time.time()
        self.batch_due = True

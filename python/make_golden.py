"""Writes tests/golden/*.safetensors, llm.c style: for each architecture, one training step of the PyTorch twin in
float64 on looplab's own data (`looplab data`) and its first batch (drawn by the twin's port of looplab's
sampler), stored as float32:

  tokens          I32 [batch, seq]   the batch
  logits          [batch, seq, vocab] after the training depth, from the weights before the step
  params.<name>   every parameter before the step (looplab's names and layout)
  grads.<name>    its gradient in the step
  after.<name>    after the AdamW step;  ema_after.<name> the EMA after it (runs with train.ema)
  init_stats.<name>  [sum, sum of squares] of looplab's initialization from the seed (checks the twin's init)
  metadata: format looplab-golden-1, config, loss, grad_norm, iterations (T, k) of the step

Constant-initialised tensors (norm scales, the halting head, local attention's bias, zero-initialised output
projections) are perturbed before the step, so every gradient path carries signal. tests/golden.rs checks
looplab's cpu and gpu backends against these files.

    python python/make_golden.py [--looplab target/release/looplab] [--out tests/golden]
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.torch import save

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from looplab_torch import config as cfg  # noqa: E402
from looplab_torch import layout  # noqa: E402
from looplab_torch.trainer import Trainer  # noqa: E402

BASE = ["task.examples=32", "task.test_examples=8", "train.batch_size=8", "model.d_model=16", "model.heads=2",
        "model.mlp_hidden=24", "model.layers=1", "model.loops=3", "train.lr=0.01", "train.weight_decay=0.1",
        "train.warmup=0", "train.grad_clip=1", "model.zero_init=false"]

GOLDEN = {
    "feedforward": ["model.arch=feedforward", "model.loops=1", "model.layers=2", "model.d_model=20", "model.heads=4",
                    "model.mlp_hidden=28", "model.norm=pre", "model.norm_scale=true", "model.mlp=swiglu"],
    "looped-injection-post-gelu-causal": ["model.injection=true", "model.norm=post", "model.norm_scale=true",
                                          "model.mlp=gelu", "model.causal=true"],
    "looped-random-depth-truncated-ema": ["seed=2", "model.injection=false", "model.norm_scale=false", "train.depth=random",
                                          "train.backprop=2", "train.ema=0.9", "model.zero_init=true"],
    "looped-local-progressive": ["seed=3", "model.positions=none", "model.attention=local", "model.radius=1",
                                 "train.depth=progressive", "train.progressive_alpha=0.5", "model.injection=true",
                                 "model.norm_scale=true"],
    "looped-halting-stablemax": ["model.halting=true", "train.stablemax=true", "model.norm_scale=true",
                                 "model.injection=true"],
    "trm": ["model.arch=trm", "model.inner=2", "model.loops=2", "train.backprop=1", "train.segments=2",
            "model.norm=post", "model.norm_scale=false"],
    "trm-mlp-mixer": ["model.arch=trm", "model.mixer=mlp", "model.inner=2", "model.loops=2", "model.norm_scale=true"],
    "hrm-one-step": ["model.arch=hrm", "model.inner=2", "model.loops=2", "train.backprop=1", "train.segments=2",
                     "train.stablemax=true", "model.norm_scale=true"],
    "feedback-memory": ["model.arch=feedforward", "model.loops=1", "model.layers=2", "model.block=4",
                        "model.memory=2", "model.norm_scale=true"],
    "block-window": ["model.arch=feedforward", "model.loops=1", "model.layers=2", "model.block=4", "model.memory=0"],
}


def perturb(trainer, generator):
    """Noise on every constant-initialised tensor, so no gradient is hidden by a zero or a unit scale."""
    noisy = {}
    for name, _, init, _, (_, pieces) in layout.entries(trainer.model):
        if init[0] != "normal" or init[1] == 0.0:
            noisy.update({p: None for p in pieces})
    with torch.no_grad():
        for name, p in trainer.model.named_parameters():
            if name in noisy or not p.abs().sum():
                p.add_(0.1 * torch.randn(p.shape, generator=generator, dtype=p.dtype))
    if trainer.ema is not None:
        for name, p in trainer.model.named_parameters():
            trainer.ema[name].copy_(p.detach())


def golden(looplab, name, sets, out):
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([looplab, "data", "--preset", "sudoku-4x4", *sum((["--set", s] for s in BASE + sets), []),
                        "--out", tmp], check=True, capture_output=True)
        config = cfg.load(os.path.join(tmp, "config.json"))
        _, vocab, splits = layout.read_data(tmp, config)
    trainer = Trainer(config, vocab, splits, dtype=torch.float64)
    init = layout.to_looplab(trainer.model, layout.params(trainer.model))
    perturb(trainer, torch.Generator().manual_seed(len(name)))
    before = copy.deepcopy(trainer.model)
    params = layout.to_looplab(trainer.model, layout.params(trainer.model))
    rng_state = trainer.batch_rng.state
    trainer.step_once()
    with torch.no_grad():
        logits = before(trainer.tokens, splits[0]["grid"], cfg.training_depth(config))
    grads = layout.to_looplab(trainer.model, {n: p.grad if p.grad is not None else torch.zeros_like(p)
                                               for n, p in trainer.model.named_parameters()})
    tensors = {"tokens": trainer.tokens.to(torch.int32), "logits": logits}
    for prefix, values in (("params.", params), ("grads.", grads),
                           ("after.", layout.to_looplab(trainer.model, layout.params(trainer.model)))):
        tensors.update({prefix + k: v for k, v in values.items()})
    if trainer.ema is not None:
        tensors.update({"ema_after." + k: v for k, v in layout.to_looplab(trainer.model, trainer.ema).items()})
    tensors.update({"init_stats." + k: torch.stack([v.sum(), v.pow(2).sum()]) for k, v in init.items()})
    sums = trainer.sums
    meta = {"format": "looplab-golden-1", "config": cfg.dumps(config), "loss": repr(float(sums[0] / sums[2])),
            "grad_norm": repr(float(sums[3].sqrt())),
            "iterations": json.dumps(trainer.last_depth), "batch_rng_before": str(rng_state),
            "made_by": "python/make_golden.py (looplab_torch, float64)"}
    path = os.path.join(out, f"{name}.safetensors")
    data = save({k: (v if v.dtype == torch.int32 else v.to(torch.float32)).contiguous() for k, v in tensors.items()},
                metadata=meta)
    with open(path, "wb") as f:
        f.write(canonical(data))
    return path


def canonical(data):
    """The file with its header's keys sorted, so regenerating a golden file gives the same bytes."""
    n = int.from_bytes(data[:8], "little")
    header = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":"))
    header += " " * (-(8 + len(header)) % 8)
    return len(header).to_bytes(8, "little") + header.encode() + data[8 + n:]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--looplab", default=os.path.join(here, "..", "target", "release", "looplab"))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "golden"))
    ap.add_argument("--only", help="one golden file's name")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    total = 0
    for name, sets in GOLDEN.items():
        if a.only and name != a.only:
            continue
        path = golden(a.looplab, name, sets, a.out)
        total += os.path.getsize(path)
        print(f"{path}: {os.path.getsize(path) >> 10} KiB")
    print(f"{total >> 10} KiB in all")


if __name__ == "__main__":
    main()

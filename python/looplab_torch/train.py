"""Training at scale: `torchrun --nproc_per_node N -m looplab_torch.train --data DIR --config config.json --out RUN`.

DistributedDataParallel over N processes (NCCL on GPUs, gloo on CPUs; plain `python -m looplab_torch.train` is one
process), each taking its share of every batch; the step, optimizer, sampler and records are looplab's
(trainer.py), so RUN/model.safetensors is a looplab checkpoint (`looplab eval`, `solve`, `probe`, `export`, the
page, even `looplab train --resume RUN`) and RUN/history.json holds the records `looplab train` writes. `--resume`
continues RUN from its checkpoint (one written here or by `looplab train`).
"""

import argparse
import json
import os
import shlex
import sys

import torch
import torch.distributed as dist

from . import config as cfg
from . import layout
from .trainer import Diverged, Trainer


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="python -m looplab_torch.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a folder written by `looplab data`")
    ap.add_argument("--config", help="the LabConfig JSON to train (default: the data folder's config.json)")
    ap.add_argument("--out", required=True, help="the run folder: model.safetensors, history.json, history.csv")
    ap.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    ap.add_argument("--steps", type=int, help="train until this step (overrides train.steps)")
    ap.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    return ap.parse_args(argv)


def history_csv(history):
    cols = ["step", "loss", "train_acc", "test_acc", "train_exact", "test_exact", "test_loss", "grad_norm", "lr",
            "elapsed_s"]
    return ",".join(cols) + "\n" + "".join(",".join(str(r[c]) for c in cols) + "\n" for r in history)


def run(a):
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = a.device == "cuda" or (a.device == "auto" and torch.cuda.is_available())
    if cuda and not torch.cuda.is_available():
        raise cfg.ConfigError("--device cuda: PyTorch sees no CUDA device")
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group("nccl" if cuda else "gloo")
    checkpoint = os.path.join(a.out, "model.safetensors")
    config = cfg.load(a.config or os.path.join(a.data, "config.json"))
    if a.resume:
        if not os.path.exists(checkpoint):
            raise layout.LayoutError(f"--resume: {checkpoint} does not exist")
        _, meta = layout.read_safetensors(checkpoint)
        stored = cfg.parse(meta.get("config", "{}"))
        for section in ("model", "train"):
            for k, v in stored[section].items():
                if k != "steps" and config[section][k] != v:
                    raise cfg.ConfigError(f"--resume: the checkpoint was trained with {section}.{k}={v!r}, "
                                          f"the config says {config[section][k]!r}")
    elif os.path.exists(checkpoint):
        raise layout.LayoutError(f"{checkpoint} exists: give --resume to continue that run, or another --out")
    if a.steps:
        config["train"]["steps"] = a.steps
    _, vocab, splits = layout.read_data(a.data, config)
    trainer = Trainer(config, vocab, splits, device=device, rank=rank, world=world)
    if a.resume:
        trainer.restore(checkpoint)
        path = os.path.join(a.out, "history.json")
        if os.path.exists(path):
            with open(path) as f:
                trainer.history = [r for r in json.load(f) if r["step"] <= trainer.step]
    os.makedirs(a.out, exist_ok=True)
    steps, every = config["train"]["steps"], config["train"]["eval_every"]
    command = "torchrun --nproc_per_node %d -m looplab_torch.train %s" % (world, shlex.join(sys.argv[1:]))
    if rank == 0:
        params = sum(p.numel() for p in trainer.model.parameters())
        print(f"looplab_torch: {params} parameters, {config['model']['arch']} x{config['model']['loops']} loops, "
              f"{world} process(es) on {device.type}; {steps} steps from step {trainer.step}; writing {a.out}",
              file=sys.stderr, flush=True)
    while trainer.step < steps:
        trainer.step_once()
        if trainer.step % every == 0 or trainer.step == steps:
            r = trainer.record()
            if rank == 0:
                trainer.save(checkpoint, {"command": command})
                layout.write_atomic(os.path.join(a.out, "history.json"), json.dumps(trainer.history, indent=2))
                layout.write_atomic(os.path.join(a.out, "history.csv"), history_csv(trainer.history))
                rate = trainer.step / max(trainer.elapsed(), 1e-9)
                print(f"step {r['step']:>7}/{steps}  {rate:7.1f} steps/s  loss {r['loss']:.4f}  "
                      f"train {100 * r['train_acc']:5.1f}%  test {100 * r['test_acc']:5.1f}% "
                      f"(exact {100 * r['test_exact']:5.1f}%)", file=sys.stderr, flush=True)
            if world > 1:
                dist.barrier()
    if rank == 0:
        print(f"done: {trainer.step} steps; wrote {a.out}/model.safetensors, history.json, history.csv",
              file=sys.stderr)
    if world > 1:
        dist.destroy_process_group()


def main(argv=None):
    a = parse_args(argv)
    try:
        run(a)
    except (cfg.ConfigError, layout.LayoutError, Diverged, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""looplab's parameter layout (src/model/mod.rs, ARCHITECTURE.md) and the files that cross the boundary.

looplab stores `x·W` matrices `[in, out]` with q/k/v side by side (`attn.qkv [d, 3d]`) and the SwiGLU halves
concatenated (`mlp.in [d, 2f]`: gate columns, then up); the modules here hold nn.Linear's `[out, in]`. `entries`
lists looplab's tensors in its order (the order its initialization draws them) with how each maps onto module
parameters; `to_looplab` / `from_looplab` convert any per-parameter tensors (weights, Adam moments, the EMA).

Files:
- looplab checkpoints (`looplab-checkpoint-1`: weights, `adam_m.`, `adam_v.`, `ema.`, metadata config, step,
  batch_rng, elapsed_s), which this package also writes, so `looplab eval/solve/probe/train --resume` and the
  page read a model trained here;
- weights-only files (`looplab-weights-1`, `looplab export --format page`);
- the PyTorch layout (`looplab-torch-1`, `looplab export --format torch`: this module's state_dict).
"""

import json
import os

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save as st_save

from . import config as cfg
from .model import LoopLabModel, init_state_shapes
from .rng import Rng

CHECKPOINT_FORMAT = "looplab-checkpoint-1"
WEIGHTS_FORMAT = "looplab-weights-1"
TORCH_FORMAT = "looplab-torch-1"


class LayoutError(ValueError):
    pass


def entries(model):
    """looplab's tensors in order: (name, shape, init, decayed, pieces). `init` is ("normal", std), ("zeros",),
    ("ones",) or ("constant", c); `pieces` are the module parameter names whose `[out, in]` matrices, transposed
    and side by side, make the `[in, out]` tensor ("linear"), or one parameter reshaped ("plain")."""
    m = model.m
    d, f, seq = m["d_model"], m["mlp_hidden"], model.seq
    calls = m["inner"] + 1 if m["arch"] in ("trm", "hrm") else 1
    applications = np.float32(m["layers"] * m["loops"] * calls)

    def std(fan_in):
        return float(np.float32(1.0) / np.sqrt(np.float32(fan_in)))

    def out_init(fan_in):
        if m["zero_init"]:
            return ("zeros",)
        return ("normal", float(np.float32(std(fan_in)) / np.sqrt(np.float32(2.0) * applications)))

    halves = ["gate", "up"] if m["mlp"] == "swiglu" else ["fc"]
    out = []
    for l in range(cfg.weight_layers(m)):
        p = f"layers.{l}."
        if m["mixer"] == "attention":
            out.append((p + "attn.qkv", [d, 3 * d], ("normal", std(d)), True,
                        ("linear", [p + "attn.q.weight", p + "attn.k.weight", p + "attn.v.weight"])))
            out.append((p + "attn.out", [d, d], out_init(d), True, ("linear", [p + "attn.out.weight"])))
        else:
            out.append((p + "mix.in", [seq, cfg.mlp_in_width(m)], ("normal", std(seq)), True,
                        ("linear", [p + f"mix.{h}.weight" for h in halves])))
            out.append((p + "mix.out", [f, seq], out_init(f), True, ("linear", [p + "mix.down.weight"])))
        out.append((p + "mlp.in", [d, cfg.mlp_in_width(m)], ("normal", std(d)), True,
                    ("linear", [p + f"mlp.{h}.weight" for h in halves])))
        out.append((p + "mlp.out", [f, d], out_init(f), True, ("linear", [p + "mlp.down.weight"])))
    out.append(("head", [d, model.vocab], ("normal", std(d)), True, ("linear", ["head.weight"])))
    out.append(("tok_emb", [model.vocab, d], ("normal", 1.0), True, ("plain", ["tok_emb.weight"])))
    if m["positions"] == "learned":
        out.append(("pos_emb", [seq, d], ("normal", 1.0), True, ("plain", ["pos_emb.weight"])))
    if m["halting"]:  # starts at "continue" (HRM: weight 0, bias -5)
        out.append(("halt.weight", [d], ("zeros",), False, ("plain", ["halt.weight"])))
        out.append(("halt.bias", [1], ("constant", -5.0), False, ("plain", ["halt.bias"])))
    if m["attention"] == "local" and m["mixer"] == "attention":
        for l in range(cfg.weight_layers(m)):
            out.append((f"layers.{l}.attn.rel_bias", [m["heads"], cfg.window(m)], ("zeros",), False,
                        ("plain", [f"layers.{l}.attn.rel_bias"])))
    if m["norm_scale"]:
        for l in range(cfg.weight_layers(m)):
            for n in ("norm1", "norm2"):
                out.append((f"layers.{l}.{n}", [d], ("ones",), False, ("plain", [f"layers.{l}.{n}.weight"])))
        if m["norm"] == "pre":
            out.append(("final_norm", [d], ("ones",), False, ("plain", ["final_norm.weight"])))
    return out


def to_looplab(model, tensors):
    """Per-module-parameter tensors (a name -> tensor dict in this module's layout) in looplab's layout."""
    out = {}
    for name, shape, _, _, (kind, pieces) in entries(model):
        if kind == "linear":
            out[name] = torch.cat([tensors[p].t() for p in pieces], dim=1).contiguous()
        else:
            out[name] = tensors[pieces[0]].reshape(shape).clone()
    return out


def from_looplab(model, tensors, source="the checkpoint", prefix=""):
    """looplab-layout tensors (`prefix` + name) as a dict in this module's layout, every name and shape checked."""
    own = dict(model.named_parameters())
    out = {}
    for name, shape, _, _, (kind, pieces) in entries(model):
        key = prefix + name
        if key not in tensors:
            raise LayoutError(f"{source}: tensor `{key}` is missing (is it a checkpoint of this architecture?)")
        t = tensors[key]
        if list(t.shape) != shape:
            raise LayoutError(f"{source}: tensor `{key}` is {list(t.shape)}, the config expects {shape}")
        if kind == "linear":
            cols = 0
            for p in pieces:
                n = own[p].shape[0]
                out[p] = t[:, cols:cols + n].t().contiguous()
                cols += n
        else:
            out[pieces[0]] = t.reshape(own[pieces[0]].shape).clone()
    return out


def decayed(model):
    """Module parameter names weight decay applies to: the matrices and embeddings (looplab's `[0, decay_len)`)."""
    return {p for _, _, _, dec, (_, pieces) in entries(model) if dec for p in pieces}


def init(model, seed):
    """looplab's initialization (`Params::init`): one normal stream `"init"` over the tensors in order, then the
    fixed random initial states from `"init-states"`; values land in the model in place."""
    rng = Rng.fork(seed, "init")
    values = {}
    for name, shape, kind, _, _ in entries(model):
        n = int(np.prod(shape))
        if kind[0] == "normal":
            v = rng.normals(n) * np.float32(kind[1])
        elif kind[0] == "zeros":
            v = np.zeros(n, np.float32)
        elif kind[0] == "ones":
            v = np.ones(n, np.float32)
        else:
            v = np.full(n, kind[1], np.float32)
        values[name] = torch.from_numpy(v.astype(np.float32).reshape(shape))
    load_params(model, from_looplab(model, values))
    set_init_states(model, seed)


def set_init_states(model, seed):
    rng = Rng.fork(seed, "init-states")
    for i, shape in enumerate(init_state_shapes(model.m)):
        v = torch.from_numpy(rng.normals(int(np.prod(shape))).reshape(shape))
        model.init_states[i].copy_(v)


@torch.no_grad()
def load_params(model, tensors):
    for name, p in model.named_parameters():
        p.copy_(tensors[name].to(p.dtype))


def params(model):
    return {n: p.detach() for n, p in model.named_parameters()}


# Files.

def read_safetensors(path):
    """(tensors as float32 torch tensors, metadata) of a safetensors file, with a message when it is not one."""
    try:
        with safe_open(path, framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except FileNotFoundError:
        raise
    except Exception as e:  # safetensors raises its own types for a corrupt header
        raise LayoutError(f"{path}: not a complete safetensors file ({e})") from None
    return tensors, meta


def model_from(config, tensors, prefix=""):
    """An empty model sized from the stored tensors (vocabulary from `tok_emb`, positions from `pos_emb` or the
    token MLP)."""
    m = config["model"]
    tok = tensors.get(prefix + "tok_emb")
    if tok is None:
        raise LayoutError("tensor `tok_emb` is missing")
    if m["positions"] == "learned":
        seq = tensors[prefix + "pos_emb"].shape[0]
    elif m["mixer"] == "mlp":
        seq = tensors[prefix + "layers.0.mix.in"].shape[0]
    else:
        seq = 1
    return LoopLabModel(config, tok.shape[0], seq)


def load(path, weights="evaluated"):
    """A model from any file looplab or `looplab export` writes: a checkpoint (its EMA weights where the run kept
    one, or `weights="live"`), a weights-only file, or a PyTorch-layout folder / model.safetensors."""
    if os.path.isdir(path):
        path = os.path.join(path, "model.safetensors")
    tensors, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt not in (CHECKPOINT_FORMAT, WEIGHTS_FORMAT, TORCH_FORMAT):
        raise LayoutError(f"{path}: metadata `format` is {fmt!r}; looplab_torch reads {CHECKPOINT_FORMAT}, "
                          f"{WEIGHTS_FORMAT} and {TORCH_FORMAT}")
    if "config" not in meta:
        raise LayoutError(f"{path}: metadata has no `config`")
    config = cfg.parse(meta["config"])
    if fmt == TORCH_FORMAT:
        vocab = tensors["tok_emb.weight"].shape[0]
        seq = (tensors["pos_emb.weight"].shape[0] if "pos_emb.weight" in tensors
               else tensors["layers.0.mix.down.weight"].shape[0] if "layers.0.mix.down.weight" in tensors
               else 1)
        model = LoopLabModel(config, vocab, seq)
        missing, unexpected = model.load_state_dict(tensors, strict=False)
        if missing or unexpected:
            raise LayoutError(f"{path}: the tensors do not fit the config (missing {missing}, unexpected {unexpected})")
        return model
    prefix = "ema." if fmt == CHECKPOINT_FORMAT and config["train"]["ema"] > 0 and weights == "evaluated" else ""
    model = model_from(config, tensors, prefix)
    load_params(model, from_looplab(model, tensors, path, prefix))
    set_init_states(model, config["seed"])
    return model


def save_checkpoint(path, model, step, batch_rng, elapsed_s, adam_m, adam_v, ema=None, extra=None):
    """A looplab checkpoint (`looplab-checkpoint-1`): what `looplab train` writes, from this package's state."""
    tensors = {}
    for prefix, values in (("", params(model)), ("adam_m.", adam_m), ("adam_v.", adam_v), ("ema.", ema)):
        if values is None:
            continue
        for name, t in to_looplab(model, values).items():
            tensors[prefix + name] = t.detach().to("cpu", torch.float32).contiguous()
    meta = {"format": CHECKPOINT_FORMAT, "config": cfg.dumps(model.config), "step": str(step),
            "batch_rng": str(batch_rng), "elapsed_s": repr(float(elapsed_s))}
    meta.update(extra or {})
    write_atomic(path, st_save(tensors, metadata=meta))


def read_checkpoint(path, model):
    """(step, batch_rng, elapsed_s, live, adam_m, adam_v, ema) from a looplab checkpoint of `model`'s config."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") == WEIGHTS_FORMAT:
        raise LayoutError(f"{path}: this file holds weights only (written by `looplab export`): training cannot "
                          "resume without its optimizer state; resume from the run's own model.safetensors")
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise LayoutError(f"{path}: metadata `format` is {meta.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    stored = cfg.parse(meta["config"])
    if stored["model"] != model.config["model"]:
        diff = [k for k in stored["model"] if stored["model"][k] != model.config["model"][k]]
        raise LayoutError(f"{path}: a checkpoint of another model (model.{diff[0]} is {stored['model'][diff[0]]!r}, "
                          f"the config says {model.config['model'][diff[0]]!r})")
    out = [int(meta["step"]), int(meta["batch_rng"]), float(meta["elapsed_s"])]
    for prefix in ("", "adam_m.", "adam_v."):
        out.append(from_looplab(model, tensors, path, prefix))
    out.append(from_looplab(model, tensors, path, "ema.") if model.config["train"]["ema"] > 0 else None)
    return out


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb" if isinstance(data, bytes) else "w") as f:
        f.write(data)
    os.replace(tmp, path)


def read_data(folder, config=None):
    """A `looplab data` folder: (config, vocab, splits); each split a dict of name, grid, tokens and targets (int64
    tensors, targets -1 where not supervised). With `config`, the data must be the one it trains on."""
    path = os.path.join(folder, "data.safetensors")
    tensors, meta = read_safetensors(path)
    if meta.get("format") != "looplab-data-1":
        raise LayoutError(f"{path}: metadata `format` is {meta.get('format')!r}, expected looplab-data-1 "
                          "(write it with `looplab data --preset NAME --out DIR`)")
    data_config = cfg.parse(meta["config"])
    if config is not None:
        # The examples depend on the seed, the task and (padding for learned positions) model.positions.
        mine = {"seed": config["seed"], "task": config["task"], "model.positions": config["model"]["positions"]}
        theirs = {"seed": data_config["seed"], "task": data_config["task"],
                  "model.positions": data_config["model"]["positions"]}
        if mine != theirs:
            keys = [f"task.{k}" for k in sorted(set(mine["task"]) | set(theirs["task"]), key=lambda k: k != "kind")
                    if mine["task"].get(k) != theirs["task"].get(k)]
            keys += [k for k in ("seed", "model.positions") if mine[k] != theirs[k]]
            raise LayoutError(f"{path} holds the data of another config ({keys[0]} is "
                              f"{_at(theirs, keys[0])!r} there, {_at(mine, keys[0])!r} in the training config); "
                              "write this config's data with `looplab data`")
    splits = []
    for s in json.loads(meta["splits"]):
        splits.append({"name": s["name"], "grid": tuple(s["grid"]),
                       "tokens": tensors[s["name"] + ".tokens"].long(),
                       "targets": tensors[s["name"] + ".targets"].long()})
    return data_config, int(meta["vocab"]), splits


def _at(d, key):
    if key.startswith("task."):
        return d["task"].get(key[5:])
    return d[key]

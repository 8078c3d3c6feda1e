"""looplab's LabConfig (src/config/mod.rs) as a plain dict: the twin reads the `model` and `train` keys, keeps
`seed` and `task` as they are (only the data depends on them), and refuses any key it does not know, so a
config from a newer looplab fails loudly instead of training something else."""

import json

# Every model and train key with its serde default (None: required).
MODEL = {
    "arch": None, "d_model": None, "heads": None, "layers": None, "loops": None, "mlp": None, "mlp_hidden": None,
    "norm": None, "norm_scale": None, "injection": None, "zero_init": None, "causal": None, "inner": 0,
    "attention": "global", "radius": 0, "positions": "learned", "halting": False, "mixer": "attention",
    "block": 0, "memory": 0,
}
TRAIN = {
    "steps": None, "batch_size": None, "lr": None, "warmup": None, "schedule": None, "weight_decay": None,
    "beta1": None, "beta2": None, "grad_clip": None, "eval_every": None, "ema": None, "depth": "fixed",
    "backprop": 0, "progressive_alpha": 1.0, "segments": 1, "stablemax": False,
}
CHOICES = {
    "model.arch": ("feedforward", "looped", "trm", "hrm"),
    "model.mlp": ("swiglu", "gelu"),
    "model.norm": ("pre", "post"),
    "model.attention": ("global", "local"),
    "model.positions": ("learned", "none"),
    "model.mixer": ("attention", "mlp"),
    "train.schedule": ("constant", "cosine"),
    "train.depth": ("fixed", "random", "progressive"),
}


class ConfigError(ValueError):
    pass


def parse(config):
    """A LabConfig dict (or its JSON text) with defaults filled in, checked key by key."""
    if isinstance(config, (str, bytes)):
        try:
            config = json.loads(config)
        except json.JSONDecodeError as e:
            raise ConfigError(f"the config is not JSON ({e})") from None
    if not isinstance(config, dict):
        raise ConfigError("a config is a JSON object with seed, task, model and train")
    unknown = set(config) - {"seed", "task", "model", "train"}
    if unknown:
        raise ConfigError(f"unknown config key `{sorted(unknown)[0]}`; looplab_torch knows seed, task, model, train")
    for key in ("seed", "task", "model", "train"):
        if key not in config:
            raise ConfigError(f"the config has no `{key}`")
    out = {"seed": int(config["seed"]), "task": dict(config["task"])}
    for section, known in (("model", MODEL), ("train", TRAIN)):
        given = config[section]
        extra = sorted(set(given) - set(known))
        if extra:
            raise ConfigError(
                f"config key `{section}.{extra[0]}` is not known to looplab_torch (it knows "
                f"{', '.join(f'{section}.{k}' for k in known)}); update python/looplab_torch to this looplab"
            )
        filled = {}
        for k, default in known.items():
            if k not in given and default is None:
                raise ConfigError(f"the config has no `{section}.{k}`")
            filled[k] = given.get(k, default)
            allowed = CHOICES.get(f"{section}.{k}")
            if allowed and filled[k] not in allowed:
                raise ConfigError(f"invalid value {filled[k]!r} for `{section}.{k}`: expected one of {', '.join(allowed)}")
        out[section] = filled
    m, t = out["model"], out["train"]
    if m["d_model"] % m["heads"]:
        raise ConfigError(f"`model.heads` ({m['heads']}) must divide model.d_model ({m['d_model']})")
    if m["arch"] == "feedforward" and m["loops"] != 1:
        raise ConfigError("`model.loops` must be 1 for model.arch=feedforward")
    if m["block"] and (m["arch"] != "feedforward" or m["attention"] != "global" or m["mixer"] != "attention"
                       or m["causal"] or m["halting"]):
        raise ConfigError("`model.block` needs a feedforward, global-attention, non-causal model without halting")
    if t["segments"] > 1 and t["depth"] == "progressive" and t["progressive_alpha"] < 1:
        raise ConfigError("`train.segments` must be 1 when train.progressive_alpha < 1")
    return out


def load(path):
    with open(path) as f:
        return parse(f.read())


def dumps(config):
    """Compact JSON as looplab stores it in checkpoint metadata."""
    return json.dumps(config, separators=(",", ":"))


def training_depth(config):
    return config["model"]["loops"] * config["train"]["segments"]


def weight_layers(m):
    return 2 * m["layers"] if m["arch"] == "hrm" else m["layers"]


def window(m):
    return (2 * m["radius"] + 1) ** 2


def mlp_in_width(m):
    return 2 * m["mlp_hidden"] if m["mlp"] == "swiglu" else m["mlp_hidden"]

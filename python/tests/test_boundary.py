"""Data and weights across the boundary: looplab's exports load here with the same outputs, models trained here go
back to looplab (eval, train --resume) with the same numbers, torchrun with 2 processes trains what one process
and `looplab train` do, and bad input gets a clear error."""

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, TINY, eval_json, looplab, sets
from looplab_torch import ConfigError, LayoutError, Trainer, layout, load, read_data
from looplab_torch import config as cfg


def twin_eval(model, splits, tmp_config):
    """The twin's evaluation of `model` on every split (a Trainer holding its weights)."""
    t = Trainer(tmp_config, model.vocab, splits)
    layout.load_params(t.model, layout.params(model))
    t.ema = None
    t.eval_model = t.model
    return {s["name"]: t.evaluate(i) for i, s in enumerate(splits)}


def test_exports_load_with_the_same_logits_and_scores(native_run):
    d = native_run
    config = cfg.load(str(d / "data" / "config.json"))
    _, _, splits = read_data(str(d / "data"), config)
    from_torch = load(str(d / "torch"))
    from_page = load(str(d / "page" / "tiny.safetensors"))
    from_checkpoint = load(str(d / "run" / "model.safetensors"))  # its EMA weights
    tokens, grid = splits[1]["tokens"], splits[1]["grid"]
    with torch.no_grad():
        logits = from_torch(tokens, grid)
        assert torch.equal(logits, from_page(tokens, grid))
        assert torch.equal(logits, from_checkpoint(tokens, grid))
    # looplab's evaluation of the same weights: the same loss and accuracies.
    native = eval_json(str(d / "page" / "tiny.safetensors"))
    mine = twin_eval(from_torch, splits, config)
    for split, r in native.items():
        assert abs(mine[split]["loss"] - r["loss"]) <= 1e-5 * r["loss"], (split, mine[split], r)
        assert abs(mine[split]["accuracy"] - r["accuracy"]) <= 1e-9
        assert abs(mine[split]["exact"] - r["exact"]) <= 1e-9
    manifest = json.load(open(d / "page" / "manifest.json"))
    listed = {s["split"]: s for s in manifest["models"][0]["splits"]}
    assert listed["test"]["accuracy"] == native["test"]["accuracy"]


def test_a_model_trained_here_goes_back_to_looplab(native_run, tmp_path):
    d = native_run
    config = cfg.load(str(d / "data" / "config.json"))
    _, vocab, splits = read_data(str(d / "data"), config)
    t = Trainer(config, vocab, splits)
    while t.step < 8:
        t.step_once()
    t.record()
    run = tmp_path / "run"
    run.mkdir()
    t.save(str(run / "model.safetensors"))
    native = eval_json(str(run / "model.safetensors"))
    for i, s in enumerate(splits):
        mine = t.evaluate(i)
        assert abs(mine["loss"] - native[s["name"]]["loss"]) <= 1e-5 * mine["loss"]
        assert mine["accuracy"] == pytest.approx(native[s["name"]]["accuracy"], abs=1e-9)
    # looplab continues it exactly where the uninterrupted native run is at step 12.
    looplab("train", "--resume", str(run), "--steps", "12", "--backend", "cpu")
    ours, theirs = eval_json(str(run / "model.safetensors")), eval_json(str(d / "run" / "model.safetensors"))
    for split in ours:
        assert ours[split]["loss"] == pytest.approx(theirs[split]["loss"], rel=1e-4)


def test_the_twin_follows_looplab_trains_curve(native_run):
    d = native_run
    config = cfg.load(str(d / "data" / "config.json"))
    _, vocab, splits = read_data(str(d / "data"), config)
    t = Trainer(config, vocab, splits)
    while t.step < config["train"]["steps"]:
        t.step_once()
        if t.step % config["train"]["eval_every"] == 0:
            t.record()
    native = json.load(open(d / "run" / "history.json"))
    assert [r["step"] for r in native] == [r["step"] for r in t.history]
    for a, b in zip(t.history, native):
        for key in ("loss", "test_loss", "grad_norm", "lr"):
            assert a[key] == pytest.approx(b[key], rel=1e-4), (key, a, b)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1e-3)


def test_torchrun_with_two_processes_trains_what_one_does(native_run, tmp_path):
    d = native_run
    torchrun = shutil.which("torchrun") or os.path.join(os.path.dirname(sys.executable), "torchrun")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.path.join(ROOT, "python"))
    args = ["-m", "looplab_torch.train", "--data", str(d / "data"), "--steps", "6"]
    one = subprocess.run([sys.executable, *args, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([torchrun, "--nproc_per_node", "2", *args, "--out", str(tmp_path / "two")], env=env,
                         capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    h1, h2 = (json.load(open(tmp_path / r / "history.json")) for r in ("one", "two"))
    native = json.load(open(d / "run" / "history.json"))
    for a, b, c in zip(h1, h2, native[:1]):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-5) == c["loss"]
        assert a["test_acc"] == b["test_acc"] == c["test_acc"]
    # Resume the 2-process run to step 12: the native run's last record.
    two = subprocess.run([torchrun, "--nproc_per_node", "2", *args[:-1], "12", "--out", str(tmp_path / "two"),
                          "--resume"], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr
    h2 = json.load(open(tmp_path / "two" / "history.json"))
    assert [r["step"] for r in h2] == [6, 12]
    assert h2[-1]["loss"] == pytest.approx(native[-1]["loss"], rel=1e-4)
    assert "torchrun --nproc_per_node 2" in layout.read_safetensors(str(tmp_path / "two" / "model.safetensors"))[1][
        "command"]


def test_bad_input_gets_a_clear_error(native_run, tmp_path):
    d = native_run
    config = cfg.load(str(d / "data" / "config.json"))
    # A data folder of another preset.
    looplab("data", "--preset", "maze", "--out", str(tmp_path / "maze"))
    with pytest.raises(LayoutError, match=r"data of another config \(task\.kind is 'maze' there, 'sudoku'"):
        read_data(str(tmp_path / "maze"), config)
    # A config key this side does not know, and one looplab does not know.
    bad = json.loads(cfg.dumps(config))
    bad["model"]["rotary"] = True
    with pytest.raises(ConfigError, match="`model.rotary` is not known to looplab_torch"):
        cfg.parse(bad)
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    out = subprocess.run([sys.executable, "-m", "looplab_torch.train", "--data", str(d / "data"), "--config",
                          str(tmp_path / "bad.json"), "--out", str(tmp_path / "x")], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    assert out.returncode == 1 and "model.rotary" in out.stderr and "Traceback" not in out.stderr
    # A checkpoint of another architecture, and tensors of the wrong shape.
    other = json.loads(cfg.dumps(config))
    other["model"]["arch"], other["model"]["inner"] = "trm", 2
    _, vocab, splits = read_data(str(d / "data"), config)
    t = Trainer(cfg.parse(other), vocab, splits)
    with pytest.raises(LayoutError, match="a checkpoint of another model"):
        t.restore(str(d / "run" / "model.safetensors"))
    tensors, _ = layout.read_safetensors(str(d / "run" / "model.safetensors"))
    tensors["head"] = tensors["head"][:, :-1]
    with pytest.raises(LayoutError, match=r"tensor `head` is \[16, \d+\], the config expects"):
        layout.from_looplab(load(str(d / "torch")), tensors)
    # Weights only: evaluation yes, resuming no.
    t = Trainer(config, vocab, splits)
    with pytest.raises(LayoutError, match="holds weights only"):
        t.restore(str(d / "page" / "tiny.safetensors"))
    # Another format version.
    from safetensors.torch import save_file
    save_file({"x": torch.zeros(1)}, str(tmp_path / "v9.safetensors"), metadata={"format": "looplab-checkpoint-9"})
    with pytest.raises(LayoutError, match="looplab-checkpoint-9"):
        load(str(tmp_path / "v9.safetensors"))
    # And looplab refuses the PyTorch layout by name.
    out = looplab("eval", "--checkpoint", str(d / "torch" / "model.safetensors"), check=False)
    assert out.returncode == 1 and "PyTorch-layout export" in out.stderr


@pytest.mark.parametrize("overrides", [
    [], ["model.arch=trm", "model.inner=2", "model.mixer=mlp"], ["model.arch=hrm", "model.inner=2"],
    ["model.attention=local", "model.radius=1", "model.positions=none", "model.halting=true"],
    ["model.arch=feedforward", "model.loops=1", "model.block=4", "model.memory=2", "model.mlp=gelu"],
])
def test_layouts_convert_both_ways(overrides, tmp_path):
    looplab("data", "--preset", "sudoku-4x4", *sets(TINY + ["model.norm_scale=true"] + overrides), "--out",
            str(tmp_path))
    config = cfg.load(str(tmp_path / "config.json"))
    _, vocab, splits = read_data(str(tmp_path), config)
    model = Trainer(config, vocab, splits).model
    own = layout.params(model)
    back = layout.from_looplab(model, layout.to_looplab(model, own))
    assert back.keys() == own.keys() and all(torch.equal(back[k], own[k]) for k in own)

"""Fixtures: the looplab binary (LOOPLAB, default target/release/looplab: `./build.sh python-test` builds it) and a
small Sudoku run that several tests share."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "python"))

TINY = ["train.steps=12", "train.eval_every=6", "model.d_model=16", "model.heads=2", "model.mlp_hidden=16",
        "task.examples=64", "task.test_examples=16", "train.batch_size=16", "train.ema=0.9"]


def looplab(*args, check=True):
    binary = os.environ.get("LOOPLAB", os.path.join(ROOT, "target", "release", "looplab"))
    if not os.path.exists(binary):
        pytest.fail(f"no looplab binary at {binary}: run `cargo build --release` or set LOOPLAB")
    env = dict(os.environ, XDG_RUNTIME_DIR=os.environ.get("XDG_RUNTIME_DIR", "/tmp"))
    out = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"looplab {' '.join(args)} failed:\n{out.stderr}")
    return out


def sets(overrides):
    return [x for s in overrides for x in ("--set", s)]


def eval_json(checkpoint):
    out = looplab("eval", "--checkpoint", checkpoint, "--backend", "cpu", "--json")
    return {r["split"]: r for r in json.loads(out.stdout)["depths"]}


@pytest.fixture(scope="session")
def native_run(tmp_path_factory):
    """`looplab data` and `looplab train` of a tiny Sudoku config, exported in both forms."""
    d = tmp_path_factory.mktemp("native")
    looplab("data", "--preset", "sudoku-4x4", *sets(TINY), "--out", str(d / "data"))
    looplab("train", "--preset", "sudoku-4x4", *sets(TINY), "--backend", "cpu", "--out", str(d / "run"))
    looplab("export", "--checkpoint", str(d / "run" / "model.safetensors"), "--out", str(d / "page"), "--name",
            "tiny", "--backend", "cpu")
    looplab("export", "--checkpoint", str(d / "run" / "model.safetensors"), "--out", str(d / "torch"), "--format",
            "torch", "--backend", "cpu")
    return d

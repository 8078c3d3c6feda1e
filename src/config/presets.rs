//! Named starting points. Each is a whole config; the page and the CLI apply `key=value` overrides on top.

use super::*;

pub struct Preset {
    pub name: &'static str,
    pub description: &'static str,
    pub config: fn() -> LabConfig,
}

pub const PRESETS: &[Preset] = &[
    Preset {
        name: "grokking",
        description: "(a + b) mod 47, 50% of pairs for training, a 1-layer block looped twice, weight decay 1: train accuracy saturates long before test accuracy jumps",
        config: grokking,
    },
    Preset {
        name: "grokking-ff",
        description: "the feedforward twin of `grokking`: 2 distinct layers, same data and optimizer",
        config: grokking_ff,
    },
    Preset {
        name: "modular-small",
        description: "(a + b) mod 23, 60% of pairs, d_model 64: small and fast, the CI learning run",
        config: modular_small,
    },
    Preset {
        name: "sudoku-4x4",
        description: "4x4 Sudoku with 6 givens, all cells supervised, a small 2-layer block looped 4 times (a starting point, not tuned)",
        config: sudoku_4x4,
    },
    Preset {
        name: "sudoku-6x6",
        description: "6x6 Sudoku with 14 givens, a 2-layer block looped 8 times, d_model 128, EMA weights for evaluation",
        config: sudoku_6x6,
    },
    Preset {
        name: "sudoku-6x6-ff",
        description: "the feedforward twin of `sudoku-6x6`: the same 2 layers (same parameters) run once",
        config: sudoku_6x6_ff,
    },
    Preset {
        name: "sudoku-6x6-trm",
        description: "TRM on `sudoku-6x6`'s data: one 2-layer net, 3 latent updates then an answer update per recursion, 2 recursions, backprop through the last, 4 deep-supervision segments",
        config: sudoku_6x6_trm,
    },
    Preset {
        name: "sudoku-6x6-trm-mlp",
        description: "`sudoku-6x6-trm` with TRM's MLP-mixer: an MLP across the 36 positions instead of attention",
        config: sudoku_6x6_trm_mlp,
    },
    Preset {
        name: "sudoku-6x6-hrm",
        description: "HRM on `sudoku-6x6`'s data: 1-layer L and H blocks, 3 L steps per H step, 2 cycles, one-step gradient, 4 deep-supervision segments, stablemax",
        config: sudoku_6x6_hrm,
    },
    Preset {
        name: "sudoku-9x9",
        description: "9x9 Sudoku with 36 givens, a 2-layer block looped 16 times, d_model 128 (sized for a GPU)",
        config: sudoku_9x9,
    },
    Preset {
        name: "maze",
        description: "shortest paths through 4x4-cell mazes (9x9 grids), tested on 6x6-cell mazes (13x13): local attention with no absolute positions, a 1-layer block looped 20 times, progressive loss",
        config: maze,
    },
    Preset {
        name: "prefix-sums",
        description: "prefix-sum parity: train on 16 bits, test on 32, local attention (radius 1) with no absolute positions, a 1-layer block looped 20 times, progressive loss",
        config: prefix_sums,
    },
    Preset {
        name: "pointer-chasing",
        description: "the 3rd successor in a permutation of 8 nodes written as shuffled pairs, a 1-layer block looped 8 times, d_model 64 (a starting point, not tuned)",
        config: pointer_chasing,
    },
    Preset {
        name: "composition",
        description: "two-hop composition over 200 entities x 10 relations, phi 7.2, 5% OOD atomic facts, a 1-layer block looped 4 times, d_model 128 (a starting point, not tuned)",
        config: composition,
    },
    Preset {
        name: "stage-mirroring",
        description: "3-hop composition over 200 entities x 20 relations, a 1-layer block looped 4 times, d_model 128: probe it against `stage-mirroring-ff` with `looplab probe --twin` (a starting point, not tuned)",
        config: stage_mirroring,
    },
    Preset {
        name: "stage-mirroring-ff",
        description: "the iso-FLOP feedforward twin of `stage-mirroring`: 4 distinct layers run once (4 layer applications either way), same data and optimizer",
        config: stage_mirroring_ff,
    },
    Preset {
        name: "passkey-fam",
        description: "passkey retrieval over 32 tokens (16 keys, distances 1-31, a test split per distance), 2 layers (d 32) run block by block (blocks of 4) with 4 feedback-memory vectors per layer (TransformerFAM)",
        config: passkey_fam,
    },
    Preset {
        name: "passkey-window",
        description: "the baseline of `passkey-fam`: the same 2 layers and blocks with block sliding-window attention (each block sees the previous one) and no memory",
        config: passkey_window,
    },
    Preset {
        name: "bandit",
        description: "in-context learning: 5-armed Bernoulli bandits, 32-step Thompson-sampling episodes on 20000 tasks, a causal 2-layer model (d_model 64) predicts the teacher's next arm; `looplab bandit` rolls it out on unseen tasks",
        config: bandit,
    },
    Preset {
        name: "bandit-looped",
        description: "`bandit` with a 1-layer block looped twice (the same layer applications, half the parameters)",
        config: bandit_looped,
    },
    Preset {
        name: "self-improve-addition",
        description: "addition of 1-4 digit numbers on a 3-row grid (reverse digit order), tested up to 7 digits: local attention (radius 1), no absolute positions, a 1-layer block (d 32) looped 8 times, progressive loss; the base model of `looplab self-improve`",
        config: self_improve_addition,
    },
    Preset {
        name: "multiplication",
        description: "3-digit x 2-digit multiplication, 8000 training problems, global attention: a 1-layer block (d 64) looped 4 times; audit it with `looplab audit`",
        config: multiplication,
    },
    Preset {
        name: "multiplication-ff",
        description: "the feedforward twin of `multiplication`: 4 distinct layers run once (4 layer applications either way)",
        config: multiplication_ff,
    },
    Preset {
        name: "automaton",
        description: "programs in the prompt: an elementary cellular automaton whose rule table is in the input, 4 steps on 8 cells (the space-time diagram), 22 of 88 rule classes held out, tested on 8 steps and 16 cells: local attention (radius 1), no positions, a 1-layer block (d 32) looped 10 times, progressive loss",
        config: automaton,
    },
    Preset {
        name: "automaton-ff",
        description: "the iso-FLOP feedforward twin of `automaton`: 10 distinct layers run once (10 layer applications either way, 10x the parameters)",
        config: automaton_ff,
    },
    Preset {
        name: "automaton-ff-narrow",
        description: "the iso-parameter feedforward twin of `automaton`: 10 distinct layers of width 12 (12612 parameters, as many as the looped model)",
        config: automaton_ff_narrow,
    },
];

fn grokking() -> LabConfig {
    LabConfig {
        seed: 0,
        task: TaskConfig {
            kind: TaskKind::Modular,
            p: 47,
            op: ModOp::Add,
            train_fraction: 0.5,
            vocab: 0,
            seq_len: 0,
            examples: 0,
            size: 0,
            givens: 0,
            test_size: 0,
            test_examples: 0,
            maze_loops: 0.0,
            maze_random_ends: 0.0,
            entities: 0,
            relations: 0,
            hops: 0,
            phi: 0.0,
            ood_fraction: 0.0,
            order: DigitOrder::Reverse,
            size_b: 0,
            steps: 0,
            test_steps: 0,
        },
        model: ModelConfig {
            arch: Arch::Looped,
            d_model: 128,
            heads: 4,
            layers: 1,
            loops: 2,
            mlp: Mlp::Swiglu,
            mlp_hidden: 256,
            norm: Norm::Pre,
            norm_scale: true,
            injection: true,
            zero_init: true,
            causal: false,
            inner: 0,
            attention: Attention::Global,
            radius: 0,
            positions: Positions::Learned,
            halting: false,
            mixer: Mixer::Attention,
            block: 0,
            memory: 0,
        },
        train: TrainConfig {
            steps: 4000,
            batch_size: 0,
            lr: 3e-3,
            warmup: 10,
            schedule: Schedule::Constant,
            weight_decay: 1.0,
            beta1: 0.9,
            beta2: 0.98,
            grad_clip: 1.0,
            eval_every: 50,
            ema: 0.0,
            depth: Depth::Fixed,
            backprop: 0,
            progressive_alpha: 1.0,
            segments: 1,
            stablemax: false,
        },
    }
}

fn grokking_ff() -> LabConfig {
    let mut c = grokking();
    c.model.arch = Arch::Feedforward;
    c.model.layers = 2;
    c.model.loops = 1;
    c
}

fn modular_small() -> LabConfig {
    let mut c = grokking();
    c.task.p = 23;
    c.task.train_fraction = 0.6;
    c.model.d_model = 64;
    c.model.mlp_hidden = 128;
    c.train.steps = 3000;
    c.train.eval_every = 100;
    c
}

fn sudoku_4x4() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Sudoku;
    (c.task.size, c.task.givens, c.task.examples, c.task.test_examples) = (4, 6, 2000, 200);
    (c.model.d_model, c.model.mlp_hidden, c.model.layers, c.model.loops) = (64, 128, 2, 4);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every) =
        (3000, 128, 1e-3, 0.1, 100);
    c
}

fn sudoku_6x6() -> LabConfig {
    let mut c = sudoku_4x4();
    (c.task.size, c.task.givens, c.task.examples, c.task.test_examples) = (6, 14, 20000, 500);
    (c.model.d_model, c.model.mlp_hidden, c.model.layers, c.model.loops) = (128, 256, 2, 8);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every, c.train.ema) =
        (6000, 128, 1e-3, 0.1, 250, 0.999);
    c.train.warmup = 200;
    c
}

fn sudoku_6x6_ff() -> LabConfig {
    let mut c = sudoku_6x6();
    (c.model.arch, c.model.loops) = (Arch::Feedforward, 1);
    c
}

fn sudoku_6x6_trm() -> LabConfig {
    let mut c = sudoku_6x6();
    (c.model.arch, c.model.inner, c.model.loops) = (Arch::Trm, 3, 2);
    (c.model.norm, c.model.norm_scale) = (Norm::Post, false);
    (c.train.backprop, c.train.segments) = (1, 4);
    c
}

fn sudoku_6x6_trm_mlp() -> LabConfig {
    let mut c = sudoku_6x6_trm();
    c.model.mixer = Mixer::Mlp;
    c
}

fn sudoku_6x6_hrm() -> LabConfig {
    let mut c = sudoku_6x6_trm();
    (c.model.arch, c.model.layers) = (Arch::Hrm, 1);
    c.train.stablemax = true;
    c
}

fn sudoku_9x9() -> LabConfig {
    let mut c = sudoku_6x6();
    (c.task.size, c.task.givens, c.task.examples) = (9, 36, 50000);
    c.model.loops = 16;
    c.train.steps = 20000;
    c
}

fn maze() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Maze;
    (c.task.size, c.task.test_size, c.task.examples, c.task.test_examples) = (4, 6, 10000, 500);
    (c.model.d_model, c.model.mlp_hidden, c.model.loops) = (64, 128, 20);
    (c.model.attention, c.model.radius, c.model.positions) = (Attention::Local, 1, Positions::None);
    (c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.steps, c.train.eval_every, c.train.warmup) =
        (64, 1e-3, 0.1, 5000, 250, 100);
    (c.train.depth, c.train.grad_clip) = (Depth::Progressive, 1.0);
    c
}

fn prefix_sums() -> LabConfig {
    let mut c = maze();
    c.task.kind = TaskKind::PrefixSums;
    (c.task.size, c.task.test_size, c.task.examples, c.task.test_examples) = (16, 32, 10000, 500);
    c
}

fn pointer_chasing() -> LabConfig {
    let mut c = maze();
    (c.model.attention, c.model.radius, c.model.positions, c.model.loops) =
        (Attention::Global, 0, Positions::Learned, 8);
    (c.train.depth, c.task.test_size) = (Depth::Fixed, 0);
    c.task.kind = TaskKind::PointerChasing;
    (c.task.size, c.task.hops, c.task.examples, c.task.test_examples) = (8, 3, 4000, 500);
    c
}

fn composition() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Composition;
    (c.task.entities, c.task.relations, c.task.hops, c.task.phi, c.task.ood_fraction, c.task.test_examples) =
        (200, 10, 2, 7.2, 0.05, 500);
    (c.model.d_model, c.model.mlp_hidden, c.model.layers, c.model.loops) = (128, 256, 1, 4);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every) =
        (20000, 512, 1e-3, 0.1, 200);
    c
}

/// A k-hop composition (3 hops: two bridges to read per query) for a looped block whose 4 iterations can be
/// compared stage by stage with a 4-layer feedforward twin. 20 relations and 10% OOD atomic facts give a
/// non-trivial `test_ood` split of 3-hop chains whose every hop is OOD.
fn stage_mirroring() -> LabConfig {
    let mut c = composition();
    (c.task.relations, c.task.hops, c.task.phi, c.task.ood_fraction) = (20, 3, 3.6, 0.1);
    (c.model.layers, c.model.loops) = (1, 4);
    c
}

fn stage_mirroring_ff() -> LabConfig {
    let mut c = stage_mirroring();
    (c.model.arch, c.model.layers, c.model.loops) = (Arch::Feedforward, 4, 1);
    c
}

fn passkey_window() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Passkey;
    (c.task.size, c.task.seq_len, c.task.examples, c.task.test_examples) = (16, 32, 20000, 256);
    (c.model.arch, c.model.loops, c.model.layers, c.model.d_model, c.model.mlp_hidden) =
        (Arch::Feedforward, 1, 2, 32, 64);
    (c.model.block, c.model.memory) = (4, 0);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every, c.train.warmup) =
        (1500, 32, 1e-3, 0.1, 100, 100);
    c
}

fn passkey_fam() -> LabConfig {
    let mut c = passkey_window();
    c.model.memory = 4;
    c
}

/// Algorithm Distillation on bandits: one causal model over teacher episodes, every position supervised.
fn bandit() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Bandit;
    (c.task.size, c.task.seq_len, c.task.examples, c.task.test_examples) = (5, 32, 20000, 500);
    (c.model.arch, c.model.layers, c.model.loops, c.model.causal) = (Arch::Feedforward, 2, 1, true);
    (c.model.d_model, c.model.mlp_hidden) = (64, 128);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every, c.train.warmup) =
        (2000, 64, 1e-3, 0.1, 250, 100);
    c
}

fn bandit_looped() -> LabConfig {
    let mut c = bandit();
    (c.model.arch, c.model.layers, c.model.loops) = (Arch::Looped, 1, 2);
    c
}

/// Small enough for `looplab self-improve` (3 models, base training and 3 rounds) on 2 CPU cores: a 3 x 8
/// grid, d 32; 8 iterations carry across every column of the longest test problems.
fn self_improve_addition() -> LabConfig {
    let mut c = maze();
    c.task.kind = TaskKind::Addition;
    (c.task.size, c.task.test_size, c.task.examples, c.task.test_examples) = (4, 7, 5000, 100);
    (c.model.d_model, c.model.heads, c.model.mlp_hidden, c.model.loops) = (32, 2, 64, 8);
    (c.train.steps, c.train.eval_every, c.train.warmup, c.train.lr, c.train.batch_size) = (2000, 250, 100, 3e-3, 32);
    c
}

/// Small enough to train in a few minutes on 2 CPU cores; long multiplication's answer digits reach graph
/// depths 3 to 9, which `looplab audit` relates to accuracy.
fn multiplication() -> LabConfig {
    let mut c = grokking();
    c.task.kind = TaskKind::Multiplication;
    (c.task.size, c.task.size_b, c.task.examples, c.task.test_examples) = (3, 2, 8000, 500);
    (c.model.d_model, c.model.mlp_hidden, c.model.layers, c.model.loops) = (64, 128, 1, 4);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.weight_decay, c.train.eval_every, c.train.warmup) =
        (3000, 64, 1e-3, 0.1, 250, 100);
    c
}

fn multiplication_ff() -> LabConfig {
    let mut c = multiplication();
    (c.model.arch, c.model.layers, c.model.loops) = (Arch::Feedforward, 4, 1);
    c
}

/// Depth is program steps: with radius-1 attention one iteration moves information one row of the space-time
/// diagram, so the 4 training rows need at least 4 iterations and the 8-step runs at least 8. 10 iterations
/// leave room for the iteration the model spends before its first step (at 6 it reached 90.7% on held-out rules
/// in 4000 steps, at 10 94.7%).
fn automaton() -> LabConfig {
    let mut c = maze();
    c.task.kind = TaskKind::Automaton;
    (c.task.size, c.task.test_size, c.task.steps, c.task.test_steps) = (8, 16, 4, 8);
    (c.task.examples, c.task.test_examples, c.task.ood_fraction) = (10000, 128, 0.25);
    (c.model.d_model, c.model.heads, c.model.mlp_hidden, c.model.loops) = (32, 4, 64, 10);
    (c.train.steps, c.train.batch_size, c.train.lr, c.train.eval_every) = (6000, 32, 5e-3, 500);
    c
}

fn automaton_ff() -> LabConfig {
    let mut c = automaton();
    (c.model.arch, c.model.layers, c.model.loops, c.train.depth) = (Arch::Feedforward, 10, 1, Depth::Fixed);
    c
}

fn automaton_ff_narrow() -> LabConfig {
    let mut c = automaton_ff();
    (c.model.d_model, c.model.mlp_hidden) = (12, 15);
    c
}

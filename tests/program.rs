#![cfg(not(target_arch = "wasm32"))]
//! The no-aliasing rules, checked once per launch when either backend prepares a program: a buffer a dispatch
//! writes is bound by no read-only binding of that dispatch; read-only bindings may share one, and so may
//! writable ones as long as they do not overlap (tests/kernels/rmsnorm.rs writes `out` and `rstd` into one
//! pool; overlapping writable ranges are an error in Chrome).

use std::panic::{catch_unwind, AssertUnwindSafe};

use looplab::backend::{Backend, BackendKind};
use looplab::ops::elementwise::{Add, Copy};
use looplab::ops::rmsnorm::RmsNormForward;
use looplab::program::{Kernel, MemoryPlan, Tensor};

/// Prepares `kernels` on a fresh backend of `kind`; the panic message if preparing refused them.
fn prepare(kind: BackendKind, plan: &MemoryPlan, kernels: Vec<Box<dyn Kernel>>) -> Option<String> {
    let run = AssertUnwindSafe(|| {
        pollster::block_on(async {
            let mut backend = Backend::open(kind).await.unwrap();
            backend.allocate(plan).unwrap();
            backend.prepare(kernels).await.unwrap();
        })
    });
    let e = catch_unwind(run).err()?;
    Some(e.downcast_ref::<String>().cloned().unwrap_or_default())
}

#[test]
fn a_dispatch_writing_a_buffer_it_also_binds_is_refused_on_both_backends() {
    let mut plan = MemoryPlan::default();
    let pool = plan.pool("pool");
    let (a, b) = (plan.carve(pool, 70), plan.carve(pool, 70));
    let other = plan.buffer("other", 70);
    for kind in [BackendKind::Cpu, BackendKind::Gpu] {
        let aliased = prepare(kind, &plan, vec![Box::new(Copy { x: a, out: b })]).expect("refused");
        assert!(
            aliased.contains("elementwise::Copy")
                && aliased.contains("writable binding 1 shares buffer 0 with read-only binding 2"),
            "{aliased}"
        );
        // Two views of one buffer read by one dispatch are fine, as is writing a buffer no other binding uses.
        assert_eq!(prepare(kind, &plan, vec![Box::new(Add { a, b, out: other })]), None, "{kind:?}");
    }
}

#[test]
fn overlapping_writable_bindings_are_refused_on_both_backends() {
    let (rows, d) = (3, 70);
    let mut plan = MemoryPlan::default();
    let x = plan.buffer("x", rows * d);
    let pool = plan.pool("pool");
    let out = plan.carve(pool, rows * d);
    let rstd = plan.carve(pool, rows);
    let norm = |rstd: Tensor| -> Vec<Box<dyn Kernel>> {
        vec![Box::new(RmsNormForward { x, weight: None, out, rstd, rows, d, eps: 1e-5 })]
    };
    for kind in [BackendKind::Cpu, BackendKind::Gpu] {
        assert_eq!(prepare(kind, &plan, norm(rstd)), None, "{kind:?}: views side by side in one pool");
        let inside_out = Tensor { offset: out.offset + 64, len: rows, ..out };
        let overlap = prepare(kind, &plan, norm(inside_out)).expect("refused");
        assert!(overlap.contains("writable bindings 1 and 2 overlap in buffer"), "{overlap}");
    }
}

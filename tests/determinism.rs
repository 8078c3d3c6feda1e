#![cfg(not(target_arch = "wasm32"))]
//! Determinism across targets: the reference run's initial weights are the committed bits, and its first losses
//! the committed ones; tests/browser.rs checks the same numbers in the page's build (wasm32).

mod reference;

#[test]
fn the_reference_run_gives_the_committed_weights_and_losses() {
    let (crc, losses) = pollster::block_on(reference::reference_run());
    println!("initial weights CRC-32 {crc:#010x}; first losses {losses:?}");
    assert_eq!(crc, reference::INITIAL_WEIGHTS_CRC32, "the initial weights changed");
    assert_eq!(losses.len(), reference::FIRST_LOSSES.len(), "one record per step");
    for (step, (&loss, &expected)) in losses.iter().zip(&reference::FIRST_LOSSES).enumerate() {
        // Natively the committed losses are this build's own: equal bits (the tolerance is for other targets).
        assert_eq!(
            loss.to_bits(),
            expected.to_bits(),
            "step {}: loss {loss:e} vs the committed {expected:e}",
            step + 1
        );
    }
}

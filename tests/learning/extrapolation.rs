//! Length extrapolation by iterating longer (prefix sums).

use looplab::backend::{Backend, BackendKind};
use looplab::config::LabConfig;
use looplab::train::Trainer;

/// Length extrapolation, the CI-sized version of the README's prefix-sum result: local attention (radius 1), no
/// absolute positions, a 1-layer block looped 10 times with progressive loss, trained on 8-bit strings; on
/// 12-bit strings it must get better by running more iterations than it was trained with (here: 41% of the
/// strings exactly right at 10 iterations, 83.5% at 24). At lr 1e-3 seeds 0-3 all pass with room (token accuracy
/// 91-98% at 24 iterations, exact +42 to +60 points); at 3e-3 the run was fragile (seed 0 stayed at chance).
#[test]
fn prefix_sums_extrapolate_to_longer_inputs_with_more_iterations() {
    pollster::block_on(async {
        let sets = [
            "task.size=8",
            "task.test_size=12",
            "task.examples=256",
            "task.test_examples=200",
            "model.loops=10",
            "train.lr=1e-3",
            "train.eval_every=500",
            "train.steps=3000",
        ];
        let c = LabConfig::from_preset("prefix-sums", &sets.map(String::from)).unwrap();
        let mut t = Trainer::with_eval_depths(c, Backend::open(BackendKind::Cpu).await.unwrap(), &[24]).await.unwrap();
        t.train(3000).await.unwrap();
        let depths = t.evaluate_depths(1).await.unwrap();
        let (trained, longer) = (depths[9], depths[23]);
        println!("12-bit test strings: at 10 iterations {trained:?}, at 24 {longer:?}");
        assert!(longer.accuracy >= 0.9, "token accuracy at 24 iterations {} < 0.9", longer.accuracy);
        assert!(
            longer.exact >= trained.exact + 0.2,
            "exact accuracy should rise with more iterations: {} at 10, {} at 24",
            trained.exact,
            longer.exact
        );
    });
}

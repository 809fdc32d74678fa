//! Fold plan: which bars each fold trains on and tests on.
//!
//! Bar indices are positions in the panel calendar. The first `warmup` bars are
//! never used (features are not defined there). For fold k:
//!
//! - rolling: training window `[o + k*step, o + k*step + is)`; anchored: `[o, o + is + k*step)`,
//!   with `o = warmup`;
//! - the test window starts `embargo` bars after the training window ends and is
//!   `oos` bars long; a decision at test bar t earns the return of bar t + 1, so the
//!   bar after the test window must exist (only whole folds are planned);
//! - training samples are bars `t` of the training window with `t <= fit_end`, where
//!   `fit_end = min(train_end - purge, test_start - 1 - lookahead)`: a sample whose
//!   label window (t, t + lookahead] reaches into the test window is always purged,
//!   and `purge` can drop more.

use crate::{
    config::walkforward::{WalkforwardSpec, WindowMode},
    error::DataError,
};

pub use crate::strategy::Fold;

/// Smallest panel length that holds one fold.
pub fn min_bars(warmup: usize, spec: &WalkforwardSpec) -> usize {
    warmup + spec.in_sample + spec.embargo + spec.out_of_sample + 1
}

/// Plans every whole fold of a panel with `n_bars` bars.
///
/// Errors with [`DataError::TooShort`] (exit 2) when not even one fold fits,
/// saying how many bars are needed.
pub fn plan(n_bars: usize, warmup: usize, spec: &WalkforwardSpec) -> Result<Vec<Fold>, DataError> {
    let need = min_bars(warmup, spec);
    if n_bars < need {
        return Err(DataError::TooShort {
            message: format!(
                "walk-forward needs at least {need} bars (feature warm-up {warmup} + in_sample_days \
                 {} + embargo_days {} + out_of_sample_days {} + 1 bar to realize the last \
                 decision), the panel has {n_bars}",
                spec.in_sample, spec.embargo, spec.out_of_sample
            ),
        });
    }
    let mut folds = Vec::new();
    for k in 0.. {
        let (train_start, train_end) = match spec.mode {
            WindowMode::Rolling => {
                let a = warmup + k * spec.step;
                (a, a + spec.in_sample - 1)
            }
            WindowMode::Anchored => (warmup, warmup + spec.in_sample - 1 + k * spec.step),
        };
        let test_start = train_end + 1 + spec.embargo;
        let test_end = test_start + spec.out_of_sample - 1;
        if test_end + 1 > n_bars - 1 {
            break;
        }
        let fit_end = (train_end - spec.purge).min(test_start - 1 - spec.lookahead);
        folds.push(Fold {
            index: k,
            train_start,
            train_end,
            fit_end,
            test_start,
            test_end,
        });
    }
    Ok(folds)
}

/// The deployment fold of a panel with `n_bars` bars: trained like fold `index`
/// would be, with the decision bar (`test_start = test_end`) on the last bar.
///
/// Its training window ends `1 + embargo` bars before the last bar, and its
/// samples end at `fit_end = min(train_end - purge, last - 1 - lookahead)`:
/// the latest bars whose labels are known. None when the panel is too short
/// for a training window after the warm-up.
pub fn deployment_fold(
    n_bars: usize,
    warmup: usize,
    index: usize,
    spec: &WalkforwardSpec,
) -> Option<Fold> {
    let last = n_bars.checked_sub(1)?;
    let train_end = last.checked_sub(1 + spec.embargo)?;
    let train_start = match spec.mode {
        WindowMode::Rolling => (train_end + 1).checked_sub(spec.in_sample)?,
        WindowMode::Anchored => warmup,
    };
    let fit_end = train_end
        .checked_sub(spec.purge)?
        .min(last.checked_sub(1 + spec.lookahead)?);
    (train_start >= warmup
        && train_end + 1 >= train_start + spec.in_sample
        && fit_end >= train_start)
        .then_some(Fold {
            index,
            train_start,
            train_end,
            fit_end,
            test_start: last,
            test_end: last,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::walkforward::RawWalkforward;

    fn spec(text: &str) -> WalkforwardSpec {
        toml::from_str::<RawWalkforward>(text)
            .unwrap()
            .validate()
            .unwrap()
    }

    fn windows(f: &Fold) -> (usize, usize, usize, usize, usize) {
        (
            f.train_start,
            f.train_end,
            f.fit_end,
            f.test_start,
            f.test_end,
        )
    }

    #[test]
    fn rolling_with_purge_and_embargo() {
        // n = 100, warm-up 10, is 30, oos 10, h 3, purge 3, embargo 2.
        // Fold 0 trains on [10, 39], fits samples up to 39 - 3 = 36 (36 + 3 = 39 < 42),
        // skips 40 and 41, tests [42, 51]; fold k shifts by 10. The last decision of
        // fold k is at 51 + 10k and needs bar 52 + 10k <= 99, so k <= 4.
        let s = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nlookahead_days = 3\nembargo_days = 2",
        );
        let f = plan(100, 10, &s).unwrap();
        assert_eq!(f.len(), 5);
        assert_eq!(windows(&f[0]), (10, 39, 36, 42, 51));
        assert_eq!(windows(&f[1]), (20, 49, 46, 52, 61));
        assert_eq!(windows(&f[4]), (50, 79, 76, 82, 91));
        assert!(f.iter().all(|f| f.train_end < f.test_start));
    }

    #[test]
    fn deployment_fold_decides_on_the_last_bar() {
        // n = 100 (last bar 99), is 30, h 3, purge 3, embargo 2: training window
        // [67, 96], samples up to min(96 - 3, 99 - 1 - 3) = 93, decision at 99.
        let s = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nlookahead_days = 3\nembargo_days = 2",
        );
        let f = deployment_fold(100, 10, 5, &s).unwrap();
        assert_eq!(windows(&f), (67, 96, 93, 99, 99));
        assert_eq!(f.index, 5);
        // Its label windows end before the decision bar, as in every fold.
        assert!(f.fit_end + s.lookahead < f.test_start);
        // Anchored: from the warm-up.
        let a = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nmode = \"anchored\"\nlookahead_days = 3",
        );
        assert_eq!(
            windows(&deployment_fold(100, 10, 0, &a).unwrap()),
            (10, 98, 95, 99, 99)
        );
        // Too short after the warm-up: none.
        assert_eq!(deployment_fold(40, 10, 0, &s), None);
        assert_eq!(deployment_fold(0, 0, 0, &s), None);
    }

    #[test]
    fn anchored_keeps_the_start() {
        let s = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nmode = \"anchored\"\nlookahead_days = 3",
        );
        let f = plan(100, 10, &s).unwrap();
        // Test windows [40, 49], [50, 59], ..., [80, 89]; [90, 99] would need bar 100.
        assert_eq!(f.len(), 5);
        assert_eq!(windows(&f[0]), (10, 39, 36, 40, 49));
        assert_eq!(windows(&f[4]), (10, 79, 76, 80, 89));
    }

    #[test]
    fn purge_never_lets_a_label_reach_the_test_window() {
        // purge 0 and no embargo: the label horizon still purges 5 samples.
        let s = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nlookahead_days = 5\npurge_days = 0",
        );
        let f = plan(100, 0, &s).unwrap();
        assert_eq!(windows(&f[0]), (0, 29, 24, 30, 39));
        for f in &f {
            assert!(f.fit_end + s.lookahead < f.test_start);
        }
        // A longer purge drops more.
        let s = spec(
            "in_sample_days = 30\nout_of_sample_days = 10\nlookahead_days = 2\npurge_days = 8",
        );
        assert_eq!(plan(100, 0, &s).unwrap()[0].fit_end, 21);
    }

    #[test]
    fn seed_step_tests_a_fifth_of_the_history() {
        let s = spec("step_days = 315");
        let f = plan(2000, 0, &s).unwrap();
        assert_eq!(windows(&f[1]), (315, 566, 561, 567, 629));
        assert_eq!(f.len(), 6); // fold 5 tests [1827, 1889]; fold 6 would start at 1890 + 252
    }

    #[test]
    fn exactly_enough_and_one_short() {
        let s = spec("in_sample_days = 30\nout_of_sample_days = 10\nembargo_days = 2");
        assert_eq!(min_bars(7, &s), 50);
        assert_eq!(plan(50, 7, &s).unwrap().len(), 1);
        let e = plan(49, 7, &s).unwrap_err().to_string();
        assert!(
            e.contains("at least 50 bars") && e.contains("has 49"),
            "{e}"
        );
    }
}

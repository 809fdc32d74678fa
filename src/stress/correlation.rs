//! Correlation matrices for the stress model: the positive semi-definite
//! check, its repair by shrinkage, and the lower Cholesky factor the kernels use.
//!
//! The job file's shape checks are in [`crate::config::stress::check_correlation`];
//! here is the numerical part, shared by given and estimated matrices.

use crate::error::ConfigError;

/// Returns `c` when it is positive semi-definite, else the smallest shrinkage
/// toward the identity (at most `max_repair`) whose Cholesky factor exists,
/// with the shrinkage used; an error naming `stress.market.correlation` otherwise.
pub fn repair(
    c: Vec<Vec<f64>>,
    max_repair: f64,
) -> Result<(Vec<Vec<f64>>, Option<f64>), ConfigError> {
    let key = "stress.market.correlation";
    if cholesky(&c).is_some() {
        return Ok((c, None));
    }
    let mut lambda = 1e-4;
    while lambda <= max_repair + 1e-15 {
        let s = shrink(&c, lambda);
        if cholesky(&s).is_some() {
            tracing::warn!(
                "{key} is not positive semi-definite; repaired by shrinking {lambda:.4} toward the identity"
            );
            return Ok((s, Some(lambda)));
        }
        lambda *= 1.25;
    }
    Err(ConfigError::invalid(
        key,
        format!(
            "is not positive semi-definite and shrinking it by up to stress.max_correlation_repair = {max_repair} toward the identity does not repair it"
        ),
    ))
}

fn shrink(c: &[Vec<f64>], lambda: f64) -> Vec<Vec<f64>> {
    c.iter()
        .enumerate()
        .map(|(i, r)| {
            r.iter()
                .enumerate()
                .map(|(j, &v)| if i == j { 1.0 } else { (1.0 - lambda) * v })
                .collect()
        })
        .collect()
}

/// Lower Cholesky factor of a PSD matrix (row-major), `None` when it is not PSD.
/// Zero pivots (exactly singular, e.g. perfect correlation) give zero columns.
pub fn cholesky(c: &[Vec<f64>]) -> Option<Vec<Vec<f64>>> {
    let n = c.len();
    let mut l = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..=i {
            let s: f64 = c[i][j] - (0..j).map(|k| l[i][k] * l[j][k]).sum::<f64>();
            if i == j {
                if s < -1e-10 {
                    return None;
                }
                l[i][i] = s.max(0.0).sqrt();
            } else if l[j][j] > 1e-12 {
                l[i][j] = s / l[j][j];
            } else if s.abs() > 1e-8 {
                return None;
            }
        }
    }
    Some(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_by_hand_and_semidefinite() {
        let l = cholesky(&[vec![1.0, 0.5], vec![0.5, 1.0]]).unwrap();
        assert_eq!(l[0], [1.0, 0.0]);
        assert_eq!(l[1][0], 0.5);
        assert!((l[1][1] - 0.75f64.sqrt()).abs() < 1e-15);
        // Perfect correlation: a zero pivot gives a zero column, not a failure.
        let l = cholesky(&[vec![1.0, 1.0], vec![1.0, 1.0]]).unwrap();
        assert_eq!(l, [[1.0, 0.0], [1.0, 0.0]]);
    }

    #[test]
    fn repair_shrinks_just_enough_or_names_the_key() {
        // Eigenvalues 1.9, 1.9, -0.8: not PSD; shrinking by l scales the
        // off-diagonal by (1 - l), PSD once 1 - 1.8 (1 - l) >= 0, l >= 4/9.
        let c = vec![
            vec![1.0, 0.9, -0.9],
            vec![0.9, 1.0, 0.9],
            vec![-0.9, 0.9, 1.0],
        ];
        assert!(cholesky(&c).is_none());
        let e = repair(c.clone(), 0.05).unwrap_err().to_string();
        assert!(e.contains("stress.market.correlation"), "{e}");
        let (r, l) = repair(c, 0.6).unwrap();
        let l = l.unwrap();
        assert!((4.0 / 9.0..4.0 / 9.0 * 1.25 + 1e-9).contains(&l), "{l}");
        assert!((r[0][1] - 0.9 * (1.0 - l)).abs() < 1e-12);
        let ok = vec![vec![1.0, 0.3], vec![0.3, 1.0]];
        assert_eq!(repair(ok.clone(), 0.05).unwrap(), (ok, None));
    }
}

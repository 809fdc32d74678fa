//! Value at risk and conditional value at risk of a sample of returns.

/// Historical VaR and CVaR at `level` of ascending `returns`, as positive
/// losses: the tail is the worst `ceil((1 - level) n)` paths; VaR is the
/// best return in it, CVaR the tail mean (Acerbi and Tasche 2002).
pub fn var_cvar(returns: &[f64], level: f64) -> (f64, f64) {
    if returns.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = (((1.0 - level) * returns.len() as f64 - 1e-9).ceil() as usize).max(1);
    let tail = &returns[..m];
    (-tail[m - 1], -tail.iter().sum::<f64>() / m as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_cvar_of_known_tail() {
        let r: Vec<f64> = (0..100).map(|i| f64::from(i) / 100.0 - 0.5).collect();
        let (v, c) = var_cvar(&r, 0.95);
        assert!((v - 0.46).abs() < 1e-12);
        assert!((c - 0.48).abs() < 1e-12);
    }
}

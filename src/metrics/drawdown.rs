//! Equity curve, maximum drawdown and total return of a return series.
//!
//! Equity compounds simple returns from 1.0 before the first bar; drawdown at t is
//! `1 - equity_t / max(1.0, max_{s<=t} equity_s)` (the starting capital counts as a
//! peak), as in Magdon-Ismail & Atiya, "Maximum Drawdown", Risk 17 (2004).

/// Equity after each bar, compounding from 1.0 (the 1.0 itself is not included).
pub fn equity_curve(r: &[f64]) -> Vec<f64> {
    let mut e = 1.0;
    r.iter()
        .map(|&x| {
            e *= 1.0 + x;
            e
        })
        .collect()
}

/// Drawdown after each bar, in [0, 1] for returns >= -1.
pub fn drawdowns(r: &[f64]) -> Vec<f64> {
    let mut peak = 1.0f64;
    equity_curve(r)
        .into_iter()
        .map(|e| {
            peak = peak.max(e);
            1.0 - e / peak
        })
        .collect()
}

/// Maximum drawdown, a fraction in [0, 1]; 0 for an empty series.
pub fn max_drawdown(r: &[f64]) -> f64 {
    drawdowns(r).into_iter().fold(0.0, f64::max)
}

/// Compounded total return: last equity - 1; 0 for an empty series.
pub fn total_return(r: &[f64]) -> f64 {
    r.iter().fold(1.0, |e, &x| e * (1.0 + x)) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // r = [0.1, -0.2, 0.05, 0.3]
        // equity: 1.1, 0.88, 0.924, 1.2012; peaks: 1.1, 1.1, 1.1, 1.2012
        // drawdowns: 0, 0.2, 1 - 0.924/1.1 = 0.16, 0 -> max 0.2; total 0.2012
        let r = [0.1, -0.2, 0.05, 0.3];
        let eq = equity_curve(&r);
        for (g, w) in eq.iter().zip([1.1, 0.88, 0.924, 1.2012]) {
            assert!((g - w).abs() < 1e-12);
        }
        assert!((max_drawdown(&r) - 0.2).abs() < 1e-12);
        assert!((total_return(&r) - 0.2012).abs() < 1e-12);
    }

    #[test]
    fn starting_capital_is_a_peak() {
        // First bar loses 10%: drawdown is measured against 1.0, not against 0.9.
        assert!((max_drawdown(&[-0.1, 0.05]) - 0.1).abs() < 1e-12);
        assert_eq!(max_drawdown(&[]), 0.0);
        assert_eq!(total_return(&[]), 0.0);
    }
}

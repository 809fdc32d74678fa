//! Corwin and Schultz (2012) bid-ask spread estimate from two bars' highs and lows.

/// The full spread (fraction of price) that bars 0 and 1's highs and lows
/// imply, negative estimates set to 0; None when a bar is unusable (a
/// non-positive price or a high below its low).
pub fn corwin_schultz_pair(h0: f64, l0: f64, h1: f64, l1: f64) -> Option<f64> {
    if !(h0 > 0.0 && l0 > 0.0 && h1 > 0.0 && l1 > 0.0 && h0 >= l0 && h1 >= l1) {
        return None;
    }
    let k = 3.0 - 2.0 * std::f64::consts::SQRT_2;
    let beta = (h0 / l0).ln().powi(2) + (h1 / l1).ln().powi(2);
    let gamma = (h0.max(h1) / l0.min(l1)).ln().powi(2);
    let alpha = ((2.0 * beta).sqrt() - beta.sqrt()) / k - (gamma / k).sqrt();
    let s = 2.0 * (alpha.exp() - 1.0) / (1.0 + alpha.exp());
    Some(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_pair_and_bad_bars() {
        // The same range 100-102 both days: by hand beta = 2 ln(1.02)^2,
        // gamma = ln(1.02)^2, alpha = (sqrt(2 beta) - sqrt(beta)) / k - sqrt(gamma / k)
        // (0.019802 as a spread, computed independently in Python).
        let (b, g) = (2.0 * 1.02f64.ln().powi(2), 1.02f64.ln().powi(2));
        let k = 3.0 - 2.0 * 2f64.sqrt();
        let a = ((2.0 * b).sqrt() - b.sqrt()) / k - (g / k).sqrt();
        let want = (2.0 * (a.exp() - 1.0) / (1.0 + a.exp())).max(0.0);
        let got = corwin_schultz_pair(102.0, 100.0, 102.0, 100.0).unwrap();
        assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        assert!((got - 0.019802).abs() < 5e-6, "{got}");
        assert_eq!(corwin_schultz_pair(99.0, 100.0, 101.0, 100.0), None);
        assert_eq!(corwin_schultz_pair(0.0, 0.0, 101.0, 100.0), None);
        // A wide two-day range against narrow days gives a negative raw estimate, set to 0.
        assert_eq!(corwin_schultz_pair(100.1, 100.0, 120.1, 120.0), Some(0.0));
    }
}

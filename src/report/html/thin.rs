//! Thinning long series for plotting: min/max per pixel column.
//!
//! A line drawn from more points than the chart has pixel columns loses
//! nothing visible when each column keeps its lowest and highest point (in
//! time order): every spike and trough stays, the drawn envelope is the same.

/// Keeps the first, last, lowest and highest point of each of `columns`
/// equal-width x buckets, in x order; `points` sorted by x.
pub fn min_max(points: &[(f64, f64)], columns: usize) -> Vec<(f64, f64)> {
    let n = points.len();
    if n <= 4 * columns.max(1) {
        return points.to_vec();
    }
    let (x0, x1) = (points[0].0, points[n - 1].0);
    let span = (x1 - x0).max(f64::MIN_POSITIVE);
    let bucket = |x: f64| {
        (((x - x0) / span) * columns as f64)
            .floor()
            .min(columns as f64 - 1.0) as usize
    };
    let mut out = Vec::with_capacity(4 * columns);
    let mut i = 0;
    while i < n {
        let b = bucket(points[i].0);
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < n && bucket(points[j].0) == b {
            if points[j].1 < points[lo].1 {
                lo = j;
            }
            if points[j].1 > points[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let mut keep = [i, lo, hi, j - 1];
        keep.sort_unstable();
        let mut last = usize::MAX;
        for k in keep {
            if k != last {
                out.push(points[k]);
                last = k;
            }
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_extremes_and_bounds_the_size() {
        // A noisy series with one spike and one trough.
        let pts: Vec<(f64, f64)> = (0..10_000)
            .map(|i| {
                let y = ((i * 7919) % 101) as f64 / 100.0;
                let y = if i == 4321 {
                    9.0
                } else if i == 777 {
                    -9.0
                } else {
                    y
                };
                (i as f64, y)
            })
            .collect();
        let t = min_max(&pts, 100);
        assert!(t.len() <= 400, "{}", t.len());
        assert!(t.contains(&(4321.0, 9.0)) && t.contains(&(777.0, -9.0)));
        assert_eq!(t.first(), pts.first());
        assert_eq!(t.last(), pts.last());
        assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        // Each bucket of 100 points keeps its own min and max.
        for b in 0..100 {
            let chunk = &pts[b * 100..(b + 1) * 100];
            let hi = chunk.iter().map(|p| p.1).fold(f64::MIN, f64::max);
            assert!(
                t.iter()
                    .any(|p| p.0 >= chunk[0].0 && p.0 <= chunk[99].0 && p.1 == hi)
            );
        }
        // Short series are untouched.
        assert_eq!(min_max(&pts[..50], 100), pts[..50].to_vec());
    }
}

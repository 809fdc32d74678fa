//! The smart order router: splits a child order across venues.
//!
//! A venue offers `liquidity_share x ADV` shares per bar (the default
//! `close` venue has no limit) and takes no fill
//! smaller than its `min_size` (currency). The router sends the whole child
//! to the cheapest venue (lowest fee, then file order) that can fill it
//! alone; when none can, it fills venue by venue, cheapest first, up to each
//! one's capacity. What no venue takes stays unfilled.

use crate::config::execution::VenueSpec;

/// Shares sent to one venue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Allocation {
    /// Venue index in the job file's order.
    pub venue: usize,
    /// Shares filled there (positive).
    pub quantity: f64,
}

/// Venue indices from cheapest to dearest (ties in file order).
pub fn by_fee(venues: &[VenueSpec]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..venues.len()).collect();
    order.sort_by(|&a, &b| {
        venues[a]
            .fee_bps
            .total_cmp(&venues[b].fee_bps)
            .then(a.cmp(&b))
    });
    order
}

/// Routes `size` shares (positive) at `price` given the asset's ADV in shares;
/// `order` is [`by_fee`] of `venues`.
pub fn route(
    size: f64,
    price: f64,
    adv: f64,
    venues: &[VenueSpec],
    order: &[usize],
) -> Vec<Allocation> {
    let capacity = |v: &VenueSpec| v.liquidity_share.map_or(f64::INFINITY, |s| s * adv);
    if let Some(&venue) = order.iter().find(|&&k| {
        let v = &venues[k];
        capacity(v) >= size && size * price >= v.min_size
    }) {
        return vec![Allocation {
            venue,
            quantity: size,
        }];
    }
    let mut left = size;
    let mut out = Vec::new();
    for &k in order {
        if left <= 0.0 {
            break;
        }
        let v = &venues[k];
        let q = capacity(v).min(left);
        if q <= 0.0 || q * price < v.min_size {
            continue;
        }
        out.push(Allocation {
            venue: k,
            quantity: q,
        });
        left -= q;
    }
    out
}

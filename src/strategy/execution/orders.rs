//! Parent orders: one open order per asset, carried across bars until its
//! goal is reached, replaced or dropped.

use super::TradeReason;

/// An order working toward a holding over one or more bars.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Parent {
    /// Id, in creation order from 0.
    pub id: u64,
    /// Holding (shares) the order works toward.
    pub goal: f64,
    /// Whether children are capped at `max_participation`.
    pub sliced: bool,
    /// Children sent so far (the next child's slice number).
    pub slices: u32,
    /// Why.
    pub reason: TradeReason,
}

/// What became of orders that ended before reaching their goal.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Unfilled {
    /// Orders ended with a remainder (replaced, dropped, delisted or open at the end).
    pub orders: usize,
    /// Their remainders, valued at the price when they ended (currency).
    pub notional: f64,
}

/// The open parent orders, one slot per asset.
#[derive(Debug, Clone, Default)]
pub struct Orders {
    open: Vec<Option<Parent>>,
    next_id: u64,
    /// Orders that ended unfilled.
    pub unfilled: Unfilled,
}

impl Orders {
    /// No open orders over `n` assets.
    pub fn new(n: usize) -> Self {
        Self {
            open: vec![None; n],
            next_id: 0,
            unfilled: Unfilled::default(),
        }
    }

    /// The open order of asset `i`.
    pub fn get(&self, i: usize) -> Option<&Parent> {
        self.open[i].as_ref()
    }

    /// The open order of asset `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> Option<&mut Parent> {
        self.open[i].as_mut()
    }

    /// A fresh order id (for a trade outside the open orders, e.g. a delisting).
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Opens an order on asset `i` (replacing any) and returns it.
    pub fn open(&mut self, i: usize, goal: f64, sliced: bool, reason: TradeReason) -> &mut Parent {
        let id = self.new_id();
        self.open[i].insert(Parent {
            id,
            goal,
            sliced,
            slices: 0,
            reason,
        })
    }

    /// Closes asset `i`'s order, booking what was left between `held` shares
    /// and its goal as unfilled at `price`.
    pub fn close(&mut self, i: usize, held: f64, price: f64) {
        if let Some(p) = self.open[i].take() {
            let left = (p.goal - held).abs() * price;
            if left > 0.0 && left.is_finite() {
                self.unfilled.orders += 1;
                self.unfilled.notional += left;
            }
        }
    }

    /// Closes asset `i`'s order that reached its goal (nothing unfilled).
    pub fn done(&mut self, i: usize) {
        self.open[i] = None;
    }

    /// Assets with an open order.
    pub fn open_assets(&self) -> impl Iterator<Item = usize> + '_ {
        self.open
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.is_some().then_some(i))
    }
}

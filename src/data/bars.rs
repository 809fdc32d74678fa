//! Long-format bars after reading and validation, and the problem collector.

use std::{collections::BTreeMap, path::PathBuf};

use super::time::format_us;

/// Where a row came from: file index into [`Bars::files`] and row in that file.
///
/// Packed in 8 bytes (24 bits of file index, 40 bits of row): it is kept for
/// every row, only to name rows in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin(u64);

impl Origin {
    const ROW_BITS: u32 = 40;
    const ROW_MASK: u64 = (1 << Self::ROW_BITS) - 1;

    /// Row `row` of file `file`; values beyond 2^24 files or 2^40 rows saturate.
    pub fn new(file: u32, row: u64) -> Self {
        let file = u64::from(file).min((1 << (64 - Self::ROW_BITS)) - 1);
        Origin(file << Self::ROW_BITS | row.min(Self::ROW_MASK))
    }

    /// Index into [`Bars::files`].
    pub fn file(self) -> u32 {
        (self.0 >> Self::ROW_BITS) as u32
    }

    /// Row number in the file, counting from 0.
    pub fn row(self) -> u64 {
        self.0 & Self::ROW_MASK
    }
}

/// Price rows in long format, one entry per (symbol, bar); nulls are NaN.
#[derive(Debug, Clone, Default)]
pub struct Bars {
    /// Symbol names; `symbol[r]` indexes this.
    pub symbols: Vec<String>,
    /// Bar timestamp, microseconds UTC.
    pub timestamp: Vec<i64>,
    /// Symbol index.
    pub symbol: Vec<u32>,
    /// Open (NaN when the bar is close-only).
    pub open: Vec<f64>,
    /// High (NaN when the bar is close-only).
    pub high: Vec<f64>,
    /// Low (NaN when the bar is close-only).
    pub low: Vec<f64>,
    /// Close.
    pub close: Vec<f64>,
    /// Volume (NaN when absent).
    pub volume: Vec<f64>,
    /// Source of each row.
    pub origin: Vec<Origin>,
    /// Source files.
    pub files: Vec<PathBuf>,
}

impl Bars {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.timestamp.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.timestamp.is_empty()
    }

    /// Describes row `r` for an error message: symbol, time, file and row.
    pub fn describe(&self, r: usize) -> String {
        let o = self.origin[r];
        let file = self
            .files
            .get(o.file() as usize)
            .and_then(|f| f.file_name())
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!(
            "{} {} ({} row {})",
            self.symbols[self.symbol[r] as usize],
            format_us(self.timestamp[r]),
            file,
            o.row()
        )
    }

    /// Reorders every column by `perm` (new row k is old row `perm[k]`).
    pub fn permute(&mut self, perm: &[usize]) {
        fn p<T: Copy>(v: &mut Vec<T>, perm: &[usize]) {
            *v = perm.iter().map(|&i| v[i]).collect();
        }
        p(&mut self.timestamp, perm);
        p(&mut self.symbol, perm);
        p(&mut self.open, perm);
        p(&mut self.high, perm);
        p(&mut self.low, perm);
        p(&mut self.close, perm);
        p(&mut self.volume, perm);
        p(&mut self.origin, perm);
    }

    /// Whether rows are sorted by (symbol name, timestamp).
    pub fn is_sorted(&self) -> bool {
        (1..self.len()).all(|r| self.key_le(r - 1, r))
    }

    fn key_le(&self, a: usize, b: usize) -> bool {
        let (sa, sb) = (self.symbol[a], self.symbol[b]);
        if sa == sb {
            self.timestamp[a] <= self.timestamp[b]
        } else {
            self.symbols[sa as usize] < self.symbols[sb as usize]
        }
    }

    /// Sorts rows by (symbol name, timestamp) and renumbers symbols in name order.
    pub fn sort(&mut self) {
        let mut order: Vec<usize> = (0..self.symbols.len()).collect();
        order.sort_by(|&a, &b| self.symbols[a].cmp(&self.symbols[b]));
        let mut rank = vec![0u32; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new as u32;
        }
        let renumbered = order.iter().any(|&o| rank[o] as usize != o);
        if renumbered {
            self.symbols = order.iter().map(|&o| self.symbols[o].clone()).collect();
            for s in &mut self.symbol {
                *s = rank[*s as usize];
            }
        }
        if self.is_sorted() {
            return;
        }
        let mut perm: Vec<usize> = (0..self.len()).collect();
        perm.sort_by_key(|&r| (self.symbol[r], self.timestamp[r]));
        self.permute(&perm);
    }

    fn used_symbols(&self) -> Vec<bool> {
        let mut used = vec![false; self.symbols.len()];
        for &s in &self.symbol {
            used[s as usize] = true;
        }
        used
    }

    /// Whether every symbol has at least one row.
    pub fn all_symbols_used(&self) -> bool {
        self.used_symbols().iter().all(|&u| u)
    }

    /// Removes symbol `name` and its rows, keeping the order of the others; returns
    /// the rows removed.
    pub fn remove_symbol(&mut self, name: &str) -> usize {
        let Some(k) = self.symbols.iter().position(|s| s == name) else {
            return 0;
        };
        let keep: Vec<usize> = (0..self.len())
            .filter(|&r| self.symbol[r] as usize != k)
            .collect();
        let removed = self.len() - keep.len();
        if removed > 0 {
            self.permute(&keep);
        }
        self.compact_symbols();
        removed
    }

    /// Drops the symbols that have no row and renumbers the rest.
    pub fn compact_symbols(&mut self) {
        let used = self.used_symbols();
        if used.iter().all(|&u| u) {
            return;
        }
        let mut map = vec![u32::MAX; self.symbols.len()];
        let mut names = Vec::new();
        for (i, name) in self.symbols.iter().enumerate() {
            if used[i] {
                map[i] = names.len() as u32;
                names.push(name.clone());
            }
        }
        self.symbols = names;
        for s in &mut self.symbol {
            *s = map[*s as usize];
        }
    }
}

/// How many examples of each problem are kept.
const MAX_EXAMPLES: usize = 3;

/// Validation problems grouped by rule, with a count and the first examples.
#[derive(Debug, Clone, Default)]
pub struct Problems {
    kinds: BTreeMap<usize, (String, usize, Vec<String>)>,
    order: BTreeMap<String, usize>,
}

impl Problems {
    /// Records one offending row for `rule`; `example` is built only when kept.
    pub fn add(&mut self, rule: &str, example: impl FnOnce() -> String) {
        let next = self.order.len();
        let id = *self.order.entry(rule.to_string()).or_insert(next);
        let e = self
            .kinds
            .entry(id)
            .or_insert_with(|| (rule.to_string(), 0, Vec::new()));
        e.1 += 1;
        if e.2.len() < MAX_EXAMPLES {
            e.2.push(example());
        }
    }

    /// Appends another collector's problems after this one's.
    pub fn merge(&mut self, other: Problems) {
        for (_, (rule, count, examples)) in other.kinds {
            let next = self.order.len();
            let id = *self.order.entry(rule.clone()).or_insert(next);
            let e = self
                .kinds
                .entry(id)
                .or_insert_with(|| (rule.clone(), 0, Vec::new()));
            e.1 += count;
            for x in examples {
                if e.2.len() < MAX_EXAMPLES {
                    e.2.push(x);
                }
            }
        }
    }

    /// Whether no problem was found.
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// Problems as (rule, count, examples), in the order first seen.
    pub fn list(&self) -> Vec<(String, usize, Vec<String>)> {
        self.kinds.values().cloned().collect()
    }

    /// One line per rule: `rule: N row(s), first: a; b; c`.
    pub fn render(&self) -> String {
        self.kinds
            .values()
            .map(|(rule, count, ex)| format!("  {rule}: {count} row(s), first: {}", ex.join("; ")))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Source location for file-level messages.
pub fn file_label(files: &[PathBuf], i: usize) -> String {
    files
        .get(i)
        .map(|f| f.display().to_string())
        .unwrap_or_default()
}

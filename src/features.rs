//! features (being built).

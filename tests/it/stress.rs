//! stress tests.

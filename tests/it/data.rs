//! data tests.

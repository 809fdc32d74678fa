//! metrics tests.

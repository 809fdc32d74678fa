//! walkforward tests.

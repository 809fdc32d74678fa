//! Integration tests: the built binary on files the tests write themselves.

mod data;
mod gate;
mod hedge;
mod metrics;
mod optimize;
mod run;
mod stress;
mod util;
mod walkforward;

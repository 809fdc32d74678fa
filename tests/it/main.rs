//! Integration tests: the built binary on files the tests write themselves.

mod cluster;
mod data;
mod faults;
mod gate;
mod hedge;
mod metrics;
mod monitor;
mod optimize;
mod run;
mod stress;
mod util;
mod walkforward;

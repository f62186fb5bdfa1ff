//! The one integration-test binary: real repositories in temp dirs, the real binary, real git.

mod harness;

mod concurrency;
mod flows;
mod help;

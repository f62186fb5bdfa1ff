//! The one integration-test binary: real repositories in temp dirs, the real binary, real git.

mod harness;

mod audit;
mod bad_input;
mod completion;
mod concurrency;
mod exec_guard;
mod execution;
mod flows;
mod gate_bypass;
mod gate_cli;
mod git_native;
mod grounding;
mod help;
mod hints;
mod history;
mod in_process;
mod interop;
mod lifecycle;
mod live_model;
mod llm_server;
mod lost_updates;
mod model_output;
mod openai_compat;
mod planning;
mod prompts;
mod readable;
mod recipes;
mod signed;
mod stats;
mod sync;
mod test_loop;
mod trailers;
mod trust;

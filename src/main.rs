//! The `git-aiflow` binary; git runs it for `git aiflow`.

fn main() -> std::process::ExitCode {
    git_aiflow::cli::run()
}

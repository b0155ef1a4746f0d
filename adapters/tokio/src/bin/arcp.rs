//! The `arcp` command-line tool: `arcp serve`, `arcp demo`, and the client commands
//! (`submit`, `tail`, `jobs`, `cancel`, `replay`). See `arcp --help` and the crate README.

fn main() {
    std::process::exit(arcp_tokio::cli::main());
}

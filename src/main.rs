//! `emofuse`: see `emofuse --help`.

use clap::Parser;

fn main() {
    let cli = emofuse::cli::Cli::parse();
    if let Err(error) = emofuse::cli::run(cli) {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

use std::process::ExitCode;

use clap::Parser;
use mostrador::config::Cli;

#[tokio::main]
async fn main() -> ExitCode {
    match mostrador::cli::run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

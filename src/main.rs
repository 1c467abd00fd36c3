//! The roomcast daemon: arguments → configuration → server. Nothing else.

use clap::Parser;
use roomcast::config::Cli;
use roomcast::server::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    if cli.genconfig {
        print!("{}", roomcast::config::sample_toml());
        return ExitCode::SUCCESS;
    }
    let cfg = match cli.load() {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("roomcast: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.print_config {
        print!("{}", cfg.to_toml());
        return ExitCode::SUCCESS;
    }
    let result = Server::bind(cfg).and_then(|mut server| {
        server.install_signal_handlers()?;
        server.run()
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("roomcast: {e}");
            ExitCode::FAILURE
        }
    }
}

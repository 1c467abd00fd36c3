//! The roomcast daemon: arguments → configuration → server. Nothing else.

use clap::Parser;
use roomcast::config::Cli;
use roomcast::server::Server;
use roomcast::supervisor::{LISTEN_ENV, WORKER_ENV};
use std::process::ExitCode;

fn main() -> ExitCode {
    let worker = std::env::var(WORKER_ENV).ok();
    let mut logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(n) = worker.clone() {
        // Logs say which worker speaks.
        logger.format(move |buf, record| {
            use std::io::Write;
            let ts = buf.timestamp();
            let (level, target) = (record.level(), record.target());
            writeln!(buf, "[{ts} {level} worker {n} {target}] {}", record.args())
        });
    }
    logger.init();
    let cli = Cli::parse();
    if cli.genconfig {
        print!("{}", roomcast::config::sample_toml());
        return ExitCode::SUCCESS;
    }
    let mut cfg = match cli.load() {
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
    if cfg.workers > 1 {
        match (&worker, std::env::var(LISTEN_ENV)) {
            // A worker binds the address its supervisor reserved, and
            // drains (SIGTERM) if the supervisor dies, even by SIGKILL.
            (Some(_), Ok(listen)) => {
                cfg.listen = listen;
                roomcast::supervisor::follow_parent();
            }
            _ => {
                return match roomcast::supervisor::run(&cfg) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("roomcast: {e}");
                        ExitCode::FAILURE
                    }
                }
            }
        }
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

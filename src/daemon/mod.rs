//! `reporter daemon`: runs each scheduled job at its fire times until SIGTERM (docs/scheduling.md).
//! SIGHUP reloads; SIGTERM/SIGINT stop starting jobs, give the running ones 30 s, then kill
//! their process groups, let their reports go out, and exit 0.

pub mod loaded;
pub mod process;
pub mod serve;

use std::path::Path;

use crate::cli::DaemonArgs;
use crate::config;
use crate::daemon::loaded::Loaded;
use crate::daemon::process::{
    ProcessError, detach, open_log, redirect_output, remove_pidfile, running_pid, write_pidfile,
};
use crate::daemon::serve::{Paths, serve};
use crate::exit;
use crate::log;

pub fn main(config: Option<&Path>, args: DaemonArgs) -> i32 {
    // The daemon may chdir to / and reloads later: pin every path now.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    let paths = Paths {
        config: config::discover(config).map(|p| absolute(&p)),
        log_file: args.log_file.as_deref().map(absolute),
    };
    let pidfile = args.pidfile.as_deref().map(absolute);

    let loaded = match Loaded::load(paths.config.as_deref(), None) {
        Ok(loaded) => loaded,
        Err(errors) => {
            log::problems(&errors);
            return exit::USAGE;
        }
    };
    log::configured(loaded.config.log_format);
    if let Some(pidfile) = &pidfile
        && let Some(pid) = running_pid(pidfile)
    {
        tracing::error!(
            "{}: a daemon is already running as process {pid}",
            pidfile.display()
        );
        return exit::USAGE;
    }
    let started = (|| -> Result<_, ProcessError> {
        let log = paths.log_file.as_deref().map(open_log).transpose()?;
        let ready = if args.detach { Some(detach()?) } else { None };
        if let Some(pidfile) = &pidfile {
            write_pidfile(pidfile)?;
        }
        Ok((log, ready))
    })();
    let ready = match started {
        Ok((log, ready)) => {
            if let Some(log) = &log {
                redirect_output(log, args.detach);
            }
            ready
        }
        Err(e) => {
            tracing::error!("{e}");
            return exit::USAGE;
        }
    };

    let code = match crate::exec::runtime() {
        Ok(runtime) => {
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, serve(loaded, paths, ready));
            exit::OK
        }
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            exit::USAGE
        }
    };
    if let Some(pidfile) = &pidfile {
        remove_pidfile(pidfile);
    }
    code
}

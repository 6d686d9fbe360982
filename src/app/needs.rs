//! What a subcommand starts from, by the type it asks for: the global options alone
//! ([`Invocation`]), the configuration loaded from them ([`Loaded`]), loaded with the
//! state folder secured ([`Secured`]), or secured with the inventory's host groups added
//! ([`Inventoried`]). Whatever stops a subcommand before it starts is reported here, once,
//! and exits 2.

use std::path::{Path, PathBuf};

use crate::cli::Cli;
use crate::config::{self, Config};
use crate::log;
use crate::run::load;

/// Gathered before a subcommand runs.
pub trait Needs: Sized {
    /// `None` once what stops the subcommand is reported.
    fn gather(invocation: Invocation) -> Option<Self>;
}

/// The global options, and how the binary was called.
pub struct Invocation {
    /// `--config`, when given.
    pub config: Option<PathBuf>,
    /// `--quiet`.
    pub quiet: bool,
    /// Whether what goes to stdout is coloured (`--color`, and whether it is a terminal).
    pub color: bool,
    /// argv[0]: a copy in `/etc/cron.daily` (and friends) is told apart by its folder.
    pub argv0: Option<PathBuf>,
}

impl Invocation {
    pub fn new(cli: &Cli, argv0: Option<&Path>) -> Invocation {
        Invocation {
            config: cli.config.clone(),
            quiet: cli.quiet,
            color: cli.color.enabled(&std::io::stdout()),
            argv0: argv0.map(Path::to_owned),
        }
    }
}

impl Needs for Invocation {
    fn gather(invocation: Invocation) -> Option<Self> {
        Some(invocation)
    }
}

/// The configuration, loaded and its `log_format` applied; nothing checked nor written
/// beyond it (what `check` starts from: it reports the rest among its problems).
pub struct Loaded {
    pub config: Config,
    pub invocation: Invocation,
}

impl Needs for Loaded {
    fn gather(invocation: Invocation) -> Option<Self> {
        let path = config::discover(invocation.config.as_deref());
        let config = Config::load(path.as_deref())
            .map_err(|errors| log::problems(&errors))
            .ok()?;
        log::configured(config.log_format);
        Some(Loaded { config, invocation })
    }
}

/// The configuration loaded, and the state folder refused when others could write to it
/// (docs/security.md): what every subcommand that reads or writes the state starts from.
pub struct Secured {
    pub config: Config,
    pub invocation: Invocation,
}

impl Needs for Secured {
    fn gather(invocation: Invocation) -> Option<Self> {
        let Loaded { config, invocation } = Loaded::gather(invocation)?;
        if let Some(problem) = load::state_dir_problem(&config) {
            log::problems(&[problem]);
            return None;
        }
        Some(Secured { config, invocation })
    }
}

/// [`Secured`], with the host groups of the config's `inventory:` added to its
/// `host_groups`: what every subcommand that validates the jobs' `hosts:` (and `--hosts`)
/// starts from (`run`, `preview`, `list`), since they may name the inventory's groups. The
/// inventory command runs here, once; why its groups are missing, if they are, is kept in
/// the configuration's `inventory_problem` for the subcommand to report with the jobs'.
/// The subcommands that read no job file (`list --names`, which shell completion runs at
/// every TAB, `history`, `flush`) do not start from it: they never run the inventory.
pub struct Inventoried {
    pub config: Config,
    pub invocation: Invocation,
}

impl Needs for Inventoried {
    fn gather(invocation: Invocation) -> Option<Self> {
        let Secured {
            mut config,
            invocation,
        } = Secured::gather(invocation)?;
        config.load_inventory();
        Some(Inventoried { config, invocation })
    }
}

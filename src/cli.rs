//! The offline command line: `run`, `replay`, `demo` and `--version`, parsed by clap (the protocol never comes here).

/// The version and the commit it was built from.
pub(crate) fn version() -> String {
    format!(
        "{} {} ({})",
        crate::command::COMMAND,
        env!("CARGO_PKG_VERSION"),
        option_env!("REGSVCSDETECT_GIT_HASH").unwrap_or("unknown commit")
    )
}

/// What `--help` says above the subcommands.
const ABOUT: &str = "\
The ESCU regsvcs.exe detections (T1218.009) as a Splunk search command.

With no arguments it speaks Splunk's chunked protocol on stdin/stdout, which is how
splunkd runs it; the subcommands work offline.";

/// The offline command line, as clap reads it. Each subcommand's arguments
/// live with the subcommand.
#[derive(Debug, clap::Parser)]
#[command(name = "regsvcsdetect", about = ABOUT, disable_version_flag = true)]
#[command(subcommand_required = false, arg_required_else_help = true)]
pub(crate) struct Cli {
    /// Print the version and commit
    #[arg(short = 'V', long)]
    pub(crate) version: bool,
    /// What to do offline.
    #[command(subcommand)]
    pub(crate) command: Option<Subcommand>,
}

/// The offline subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum Subcommand {
    /// `run`: the detection over event files.
    #[command(about = "Run a detection over CSV, JSON lines or Sysmon XML files (gzip ok)")]
    #[command(long_about = crate::offline::run::ABOUT)]
    Run(crate::offline::run::RunArgs),
    /// `replay`: a recorded session, played again.
    #[command(about = "Play a record=t recording through the command and show the replies")]
    #[command(long_about = crate::offline::replay::ABOUT)]
    Replay(crate::offline::replay::ReplayArgs),
    /// `demo`: the bundled samples through the protocol path.
    #[command(about = "Play splunkd over the bundled samples, for both modes")]
    Demo,
}

/// Runs the offline CLI with `args` (argv without the program name) and
/// returns the exit code.
pub fn main(args: &[String]) -> u8 {
    let argv = std::iter::once(crate::command::COMMAND).chain(args.iter().map(String::as_str));
    let cli = match <Cli as clap::Parser>::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) => {
            // Help goes to stdout with exit 0, usage errors to stderr with 2.
            let _ = e.print();
            return u8::try_from(e.exit_code()).unwrap_or(2);
        }
    };
    match cli.command {
        Some(Subcommand::Run(args)) => crate::offline::run::main(args),
        Some(Subcommand::Replay(args)) => crate::offline::replay::main(args),
        Some(Subcommand::Demo) => crate::offline::demo::main(),
        None => crate::offline::say(&format!("{}\n", version())),
    }
}

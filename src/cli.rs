//! The command line: global options and subcommands, parsed by clap.

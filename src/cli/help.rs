//! `--help` and clap's own errors in the user's language.
//!
//! The clap derive structs stay the definition of the command line; their English `///`
//! comments are for developers. At run time [`command`] builds the clap `Command` from them
//! and walks it, replacing every command's about text, every argument's help, the headings,
//! the built-in `--help`/`--version` flags and the `help` subcommand with catalog text
//! (`src/i18n/help.toml`, keys `help.<command path>` and `help.<command path>.<arg id>`).
//! Clap's errors are rendered by [`render_error`] from catalog messages, so no English
//! reaches a Chinese user. A test walks the whole tree and fails on any entry missing.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory};

use super::Cli;
use crate::i18n;
use crate::tr;

/// The catalog key of the command at `path` (command names after the binary's).
pub fn command_key(path: &[&str]) -> String {
    let mut key = String::from("help");
    for p in path {
        key.push('.');
        key.push_str(p);
    }
    key
}

/// The catalog keys an argument's help may be under: by its id, else by its long name.
pub fn arg_keys(cmd_key: &str, arg: &Arg) -> Vec<String> {
    let mut keys = vec![format!("{cmd_key}.{}", arg.get_id())];
    if let Some(long) = arg.get_long() {
        let k = format!("{cmd_key}.{long}");
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// The localized command line: the derive's `Command` with catalog text everywhere.
pub fn command() -> Command {
    let cmd = Cli::command().disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help(tr!("clap.version_flag")),
    );
    localize(cmd, &[])
}

/// Our own `help [COMMAND…]` subcommand (clap's has English text); `cli::main` answers it.
fn help_subcommand() -> Command {
    Command::new("help").about(tr!("clap.help_subcommand")).arg(
        Arg::new("command")
            .num_args(0..)
            .action(ArgAction::Append)
            .value_name(tr!("clap.command_value"))
            .help(tr!("clap.help_subcommand_arg")),
    )
}

/// The path of a `help` subcommand in `matches` (e.g. `record help add` gives
/// `["record", "add"]`), or None when the command line asks for no help.
pub fn help_request(matches: &clap::ArgMatches) -> Option<Vec<String>> {
    let mut path = Vec::new();
    let mut m = matches;
    while let Some((name, sub)) = m.subcommand() {
        if name == "help" {
            path.extend(
                sub.get_many::<String>("command")
                    .map(|v| v.cloned().collect::<Vec<_>>())
                    .unwrap_or_default(),
            );
            return Some(path);
        }
        path.push(name.to_string());
        m = sub;
    }
    None
}

/// Sets the catalog text on `cmd` (at `path`) and, recursively, on its subcommands.
fn localize(cmd: Command, path: &[&str]) -> Command {
    let key = command_key(path);
    let mut cmd = cmd
        .help_template(format!(
            "{{before-help}}{{about-with-newline}}\n{}{{usage}}\n\n{{all-args}}{{after-help}}",
            tr!("clap.usage")
        ))
        .subcommand_help_heading(tr!("clap.commands"))
        .subcommand_value_name(tr!("clap.command_value"))
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help(tr!("clap.help_flag")),
        );
    let is_help_sub = path.last() == Some(&"help");
    if cmd.has_subcommands() && !is_help_sub {
        cmd = cmd
            .disable_help_subcommand(true)
            .subcommand(help_subcommand());
    }
    if i18n::has(&key) {
        cmd = cmd.about(tr_raw(&key));
        if let Some(example) = i18n::example(&key) {
            cmd = cmd.after_long_help(format!("{}\n  {example}", tr!("clap.example")));
        }
    }
    let args: Vec<_> = cmd
        .get_arguments()
        .map(|a| a.get_id().as_str().to_string())
        .collect();
    for id in args {
        let key = key.clone();
        cmd = cmd.mut_arg(id, |arg| localize_arg(arg, &key, is_help_sub));
    }
    let subs: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in subs {
        let mut sub_path: Vec<&str> = path.to_vec();
        sub_path.push(&name);
        let sub_path_owned: Vec<String> = sub_path.iter().map(|s| s.to_string()).collect();
        cmd = cmd.mut_subcommand(&name, |sub| {
            let p: Vec<&str> = sub_path_owned.iter().map(String::as_str).collect();
            localize(sub, &p)
        });
    }
    cmd
}

/// An argument's help, heading, and the default/env/choices notes, from the catalog.
fn localize_arg(arg: Arg, cmd_key: &str, is_help_sub: bool) -> Arg {
    let id = arg.get_id().as_str().to_string();
    let heading = if arg.is_positional() {
        tr!("clap.arguments")
    } else if arg.is_global_set() {
        tr!("clap.global_options")
    } else {
        tr!("clap.options")
    };
    let mut arg = arg.help_heading(heading);
    if id == "help" || id == "version" || is_help_sub {
        return arg;
    }
    let Some(key) = arg_keys(cmd_key, &arg).into_iter().find(|k| i18n::has(k)) else {
        return arg;
    };
    let mut help = tr_raw(&key);
    if !arg.get_action().takes_values() {
        return arg.help(help);
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if !defaults.is_empty() && !arg.is_hide_default_value_set() {
        help.push(' ');
        help.push_str(&tr!("clap.default", value = defaults.join(", ")));
        arg = arg.hide_default_value(true);
    }
    if let Some(env) = arg.get_env() {
        help.push(' ');
        help.push_str(&tr!("clap.env", name = env.to_string_lossy()));
        arg = arg.hide_env(true);
    }
    let values: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_string())
        .collect();
    if !values.is_empty() && !arg.is_hide_possible_values_set() {
        help.push(' ');
        help.push_str(&tr!("clap.possible", values = values.join(", ")));
        arg = arg.hide_possible_values(true);
    }
    arg.help(help)
}

/// A help text by key (help texts have no placeholders).
fn tr_raw(key: &str) -> String {
    i18n::text(key, &[])
}

/// Runs `casevault help [COMMAND…]`: prints the help of the named command, or of the top
/// level. Returns false (bad usage) when no such command exists.
pub fn print_help_for(cmd: &mut Command, names: &[String]) -> bool {
    // Gives every subcommand its full name for the usage line.
    cmd.build();
    let mut target = cmd;
    for n in names {
        match target.find_subcommand_mut(n) {
            Some(sub) => target = sub,
            None => return false,
        }
    }
    let text = target.render_long_help().to_string();
    crate::outln!("{}", text.trim_end());
    true
}

/// Clap's error in the user's language: the message, the usage line and a hint.
pub fn render_error(e: &clap::Error) -> String {
    let get = |k: ContextKind| -> String {
        match e.get(k) {
            Some(ContextValue::String(s)) => s.clone(),
            Some(ContextValue::Strings(v)) => v.join(", "),
            Some(ContextValue::StyledStr(s)) => s.to_string(),
            Some(ContextValue::StyledStrs(v)) => v
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            Some(ContextValue::Number(n)) => n.to_string(),
            Some(ContextValue::Bool(b)) => b.to_string(),
            _ => String::new(),
        }
    };
    let arg = get(ContextKind::InvalidArg);
    let value = get(ContextKind::InvalidValue);
    let mut msg = match e.kind() {
        ErrorKind::InvalidValue if value.is_empty() => tr!("clap.err.value_missing", arg = arg),
        ErrorKind::InvalidValue => tr!("clap.err.invalid_value", arg = arg, value = value),
        ErrorKind::ValueValidation => tr!("clap.err.invalid_value", arg = arg, value = value),
        ErrorKind::UnknownArgument => tr!("clap.err.unknown_argument", arg = arg),
        ErrorKind::InvalidSubcommand => tr!(
            "clap.err.unknown_command",
            name = get(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::NoEquals => tr!("clap.err.no_equals", arg = arg),
        ErrorKind::TooManyValues => tr!("clap.err.too_many_values", arg = arg, value = value),
        ErrorKind::TooFewValues | ErrorKind::WrongNumberOfValues => tr!(
            "clap.err.wrong_number",
            arg = arg,
            count = get(ContextKind::ExpectedNumValues)
        ),
        ErrorKind::ArgumentConflict => tr!(
            "clap.err.conflict",
            arg = arg,
            other = get(ContextKind::PriorArg)
        ),
        ErrorKind::MissingRequiredArgument => tr!("clap.err.missing", args = arg),
        ErrorKind::MissingSubcommand => tr!(
            "clap.err.missing_command",
            name = get(ContextKind::InvalidSubcommand)
        ),
        ErrorKind::InvalidUtf8 => tr!("clap.err.utf8"),
        _ => tr!("clap.err.other"),
    };
    // A value the type refused: say what was expected (the parser's own reason is English).
    if let Some(src) = std::error::Error::source(e) {
        if src.is::<std::num::ParseIntError>() {
            msg.push_str(&tr!("clap.err.not_a_number"));
        }
    }
    let valid = get(ContextKind::ValidValue);
    if !valid.is_empty() {
        msg.push_str(&tr!("clap.err.valid_values", values = valid));
    }
    for k in [
        ContextKind::SuggestedSubcommand,
        ContextKind::SuggestedArg,
        ContextKind::SuggestedValue,
    ] {
        let s = get(k);
        if !s.is_empty() {
            msg.push_str(&tr!("clap.err.suggest", name = s));
        }
    }
    let usage = get(ContextKind::Usage);
    let usage = usage.trim();
    let usage = usage.strip_prefix("Usage:").unwrap_or(usage).trim();
    let mut out = format!("{}{msg}\n", tr!("clap.err.heading"));
    if !usage.is_empty() {
        out.push_str(&format!("\n{}{usage}\n", tr!("clap.usage")));
    }
    out.push_str(&format!("\n{}\n", tr!("clap.err.more")));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every command and argument in the tree, as (catalog keys that may hold it, what).
    fn walk(cmd: &Command, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
        let p: Vec<&str> = path.iter().map(String::as_str).collect();
        let key = command_key(&p);
        if !cmd.is_hide_set() {
            out.push((vec![key.clone()], format!("command {key}")));
        }
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || id == "help" || id == "version" {
                continue;
            }
            out.push((arg_keys(&key, arg), format!("argument {id} of {key}")));
        }
        for sub in cmd.get_subcommands() {
            path.push(sub.get_name().to_string());
            walk(sub, path, out);
            path.pop();
        }
    }

    /// The whole command tree has help text in both languages, and every command an example.
    #[test]
    fn every_command_and_argument_has_help() {
        let mut all = Vec::new();
        walk(&Cli::command(), &mut Vec::new(), &mut all);
        let mut missing = Vec::new();
        for (keys, what) in &all {
            match keys.iter().find_map(|k| i18n::raw(k).map(|r| (k, r))) {
                None => missing.push(format!("{what}: no catalog entry {}", keys[0])),
                Some((k, (zh, en))) => {
                    if zh.trim().is_empty() || en.trim().is_empty() {
                        missing.push(format!("{what}: {k} has an empty text"));
                    }
                    if what.starts_with("command") && i18n::example(k).is_none() {
                        missing.push(format!("{what}: {k} has no example"));
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "{} missing: {missing:#?}",
            missing.len()
        );
    }

    /// Every example parses: it names a real command with real flags.
    #[test]
    fn every_example_parses() {
        let mut all = Vec::new();
        walk(&Cli::command(), &mut Vec::new(), &mut all);
        let mut bad = Vec::new();
        for (keys, _) in all.iter().filter(|(_, w)| w.starts_with("command")) {
            let Some(example) = i18n::example(&keys[0]) else {
                continue;
            };
            let words: Vec<&str> = example
                .split_whitespace()
                .take_while(|w| *w != "|" && *w != ">")
                .collect();
            if let Err(e) = command().try_get_matches_from(&words) {
                bad.push(format!("{}: {example}: {}", keys[0], e.kind()));
            }
        }
        assert!(bad.is_empty(), "examples that do not parse: {bad:#?}");
    }

    /// Writes a skeleton of help.toml from the English doc comments (a developer aid:
    /// `cargo test --lib help_skeleton -- --ignored`, output in target/help-skeleton.toml).
    #[test]
    #[ignore]
    fn help_skeleton() {
        fn go(cmd: &Command, path: &mut Vec<String>, out: &mut String) {
            let p: Vec<&str> = path.iter().map(String::as_str).collect();
            let key = command_key(&p);
            let about = cmd.get_about().map(|s| s.to_string()).unwrap_or_default();
            out.push_str(&format!(
                "[\"{key}\"]\nzh = \"\"\nen = {:?}\nexample = \"casevault {}\"\n\n",
                about.replace('\n', " "),
                p.join(" ")
            ));
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().map(|s| s.to_string()).unwrap_or_default();
                out.push_str(&format!(
                    "[\"{key}.{id}\"]\nzh = \"\"\nen = {:?}\n\n",
                    help.replace('\n', " ")
                ));
            }
            for sub in cmd.get_subcommands() {
                path.push(sub.get_name().to_string());
                go(sub, path, out);
                path.pop();
            }
        }
        let mut out = String::new();
        go(&Cli::command(), &mut Vec::new(), &mut out);
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/target/help-skeleton.toml");
        std::fs::write(dir, out).unwrap();
    }
}

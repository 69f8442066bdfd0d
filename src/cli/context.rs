//! What every command needs: the vault, the actor, passphrases, and output in text or JSON.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde::Serialize;

use super::Cli;
use crate::error::{Error, Result};
use crate::tr;
use crate::vault::{Session, VaultDir};

/// Global options, resolved.
pub struct Context {
    pub vault: VaultDir,
    pub actor: Option<String>,
    pub passphrase_file: Option<PathBuf>,
    pub json: bool,
    /// `--no-agent`: never take the identity from a running agent.
    pub no_agent: bool,
}

impl Context {
    pub fn new(cli: &Cli) -> Self {
        Context {
            vault: VaultDir::new(cli.vault.clone()),
            actor: cli.actor.clone(),
            passphrase_file: cli.passphrase_file.clone(),
            json: cli.json,
            no_agent: cli.no_agent,
        }
    }

    /// The acting staff member's name.
    pub fn actor(&self) -> Result<String> {
        self.actor
            .clone()
            .filter(|a| !a.is_empty())
            .ok_or(Error::NoActor)
    }

    /// The actor's passphrase: `--passphrase-file`, else `$CASEVAULT_PASSPHRASE`, else a prompt.
    pub fn passphrase(&self, who: &str) -> Result<SecretString> {
        read_secret(
            self.passphrase_file.as_deref(),
            "CASEVAULT_PASSPHRASE",
            &tr!("cli.prompt_passphrase", name = who),
            false,
        )
    }

    /// A new passphrase for `who`: the file, else `$CASEVAULT_NEW_PASSPHRASE`, else asked twice.
    pub fn new_passphrase(&self, file: Option<&Path>, who: &str) -> Result<SecretString> {
        read_secret(
            file,
            "CASEVAULT_NEW_PASSPHRASE",
            &tr!("cli.prompt_new_passphrase", name = who),
            true,
        )
    }

    /// Opens the vault as the actor. An admin is told of a pending database key rotation (a
    /// removal a crash or other sessions interrupted) and, on a terminal, offered to finish it.
    pub fn session(&self) -> Result<Session> {
        let mut s = self.session_quiet()?;
        if s.policy.allows(s.role, crate::policy::Action::StaffManage) {
            let names = s.rotation_pending()?;
            if !names.is_empty() {
                self.offer_rotation(&mut s, &names.join(", "));
            }
        }
        Ok(s)
    }

    /// Opens the vault as the actor, without offering to finish a pending rotation. The
    /// identity comes from a running agent that holds it for this vault and identity file
    /// (`crate::agent`), else from the passphrase (file, environment or prompt).
    pub fn session_quiet(&self) -> Result<Session> {
        let actor = self.actor()?;
        self.vault.check()?;
        let s = match self.agent_session(&actor)? {
            Some(s) => s,
            None => {
                let pass = self.passphrase(&actor)?;
                Session::open(&self.vault, &actor, &pass)?
            }
        };
        if s.tightened > 0 {
            crate::errln!("{}", tr!("cli.modes_tightened", count = s.tightened));
        }
        Ok(s)
    }

    /// A session opened with the agent's copy of the actor's identity, or `None` to fall back
    /// to the passphrase: no agent, disabled, nothing held for this vault and member, or an
    /// identity a key rotation replaced (the passphrase path finishes such a rotation).
    fn agent_session(&self, actor: &str) -> Result<Option<Session>> {
        if !crate::agent::enabled(self.no_agent) {
            return Ok(None);
        }
        let Some(me) = crate::agent::fetch(&self.vault.root, &self.vault.identity(actor), actor)
        else {
            return Ok(None);
        };
        match Session::with_identity(&self.vault, me) {
            Ok(s) => Ok(Some(s)),
            Err(Error::IdentitySuperseded { .. } | Error::KeyNotHeld { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn offer_rotation(&self, s: &mut Session, names: &str) {
        use std::io::BufRead;
        let interactive =
            !self.json && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        if !interactive {
            crate::errln!("{}", tr!("cli.rotation_pending_notice", names = names));
            return;
        }
        super::out::err_prompt(&tr!("cli.rotation_offer", names = names));
        let mut answer = String::new();
        if std::io::stdin().lock().read_line(&mut answer).is_err() {
            return;
        }
        let a = answer.trim().to_lowercase();
        if !(a.is_empty() || a == "y" || a == "yes" || a == "是" || a == "好") {
            return;
        }
        match s.rotate_db_key() {
            Ok(done) => crate::errln!("{}", tr!("cli.rotation_done", names = done.join(", "))),
            Err(e) => crate::errln!("{}", terminal_safe(&e.to_string())),
        }
    }

    /// Prints `value` as JSON with `--json`, else the human text.
    pub fn emit<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            super::out::line(
                &serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into()),
            );
        } else {
            let text = human();
            if !text.is_empty() {
                super::out::line(&terminal_safe(text.trim_end()));
            }
        }
    }

    /// Runs `f` with a progress callback drawn as a bar on a terminal (hidden when piped).
    pub fn with_progress<T>(
        &self,
        f: impl FnOnce(&mut dyn FnMut(u64, u64)) -> Result<T>,
    ) -> Result<T> {
        let pb = self.progress(0);
        let out = f(&mut |done, total| {
            pb.set_length(total);
            pb.set_position(done);
        });
        pb.finish_and_clear();
        out
    }

    /// A progress bar on a terminal; hidden when stderr is piped or output is JSON.
    pub fn progress(&self, total: u64) -> indicatif::ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {elapsed_precise} ETA {eta}",
        ) {
            pb.set_style(style);
        }
        pb
    }
}

fn read_secret(
    file: Option<&Path>,
    env: &str,
    prompt: &str,
    confirm: bool,
) -> Result<SecretString> {
    let s = if let Some(f) = file {
        let text = crate::error::read_capped_text(f, MAX_SMALL_FILE)?;
        zeroize::Zeroizing::new(text)
            .trim_end_matches(['\n', '\r'])
            .to_string()
    } else if let Ok(v) = std::env::var(env) {
        v
    } else if std::io::stdin().is_terminal() {
        let a = rpassword::prompt_password(prompt).map_err(|_| Error::NoPassphrase)?;
        if confirm {
            let b = rpassword::prompt_password(tr!("cli.prompt_again"))
                .map_err(|_| Error::NoPassphrase)?;
            if a != b {
                return Err(Error::Invalid(tr!("cli.passphrases_differ")));
            }
        }
        a
    } else {
        return Err(Error::NoPassphrase);
    };
    if s.is_empty() {
        return Err(Error::NoPassphrase);
    }
    Ok(SecretString::from(s))
}

/// Reads a JSON (or text) document a person prepared: capped at
/// [`JSON_INPUT_MAX_BYTES`](crate::domain::text::JSON_INPUT_MAX_BYTES), a leading UTF-8 byte
/// order mark skipped.
pub fn read_json_input(path: &Path) -> Result<Vec<u8>> {
    use crate::domain::text::{strip_bom, JSON_INPUT_MAX_BYTES};
    let mut buf = read_input(path, JSON_INPUT_MAX_BYTES as u64)?;
    let skip = buf.len() - strip_bom(&buf).len();
    buf.drain(..skip);
    Ok(buf)
}

/// Text for a terminal: control and bidi-override characters from stored data are shown
/// escaped, never sent raw (see [`crate::domain::text::escape_controls`]). Every human
/// output and error message passes through here.
pub fn terminal_safe(s: &str) -> std::borrow::Cow<'_, str> {
    crate::domain::text::escape_controls(s)
}

/// Largest passphrase, key or checkpoint file read (they are a few hundred bytes).
pub const MAX_SMALL_FILE: u64 = 64 << 10;
/// Largest import file (it is held in memory while it is imported).
pub const MAX_IMPORT_FILE: u64 = 1 << 30;

/// Reads content of at most `max` bytes from a file, or stdin with `-`: the size is checked
/// before reading, so a wrong path costs no memory.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .take(max + 1)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io("-", e))?;
        if buf.len() as u64 > max {
            return Err(Error::TooLarge {
                path: path.to_path_buf(),
                size: buf.len() as u64,
                max,
            });
        }
        Ok(buf)
    } else {
        crate::error::read_capped(path, max)
    }
}

/// A simple aligned table for terminal output.
pub fn table(header: &[String], rows: &[Vec<String>]) -> String {
    use unicode_width::UnicodeWidthStr;
    let mut widths: Vec<usize> = header.iter().map(|h| h.width()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.width());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < cells.len() {
                s.push_str(&" ".repeat(widths[i] - c.width() + 2));
            }
        }
        s.push('\n');
        s
    };
    let mut out = line(header);
    for r in rows {
        out.push_str(&line(r));
    }
    out
}

//! User-facing text, in one place so it can be translated.
//!
//! Every message lives in a TOML catalog beside this file (`*.toml`, one per area), with the
//! Chinese and the English text side by side under one key:
//!
//! ```toml
//! ["record.not_assigned"]
//! zh = "您未被分配到个案 {case}"
//! en = "you are not assigned to case {case}"
//! ```
//!
//! Code refers to text by key through [`tr!`](crate::tr); `{name}` placeholders are filled
//! from its arguments. The language is Chinese unless `CASEVAULT_LANG` or the locale
//! (`LC_ALL`, `LC_MESSAGES`, `LANG`) asks for English. A test checks that every key used in
//! the source exists in both languages.

use std::collections::HashMap;
use std::sync::OnceLock;

/// The catalogs, one per area. Add a file here when an area gets its own.
const CATALOGS: &[(&str, &str)] = &[
    ("common.toml", include_str!("common.toml")),
    ("vault.toml", include_str!("vault.toml")),
    ("cli.toml", include_str!("cli.toml")),
    ("log.toml", include_str!("log.toml")),
    ("packet.toml", include_str!("packet.toml")),
    ("demo.toml", include_str!("demo.toml")),
    ("policy.toml", include_str!("policy.toml")),
    ("referral.toml", include_str!("referral.toml")),
    ("requests.toml", include_str!("requests.toml")),
    ("audit.toml", include_str!("audit.toml")),
    ("recovery.toml", include_str!("recovery.toml")),
    ("state.toml", include_str!("state.toml")),
    ("witness.toml", include_str!("witness.toml")),
    ("agent.toml", include_str!("agent.toml")),
    ("forms.toml", include_str!("forms.toml")),
    ("web.toml", include_str!("web.toml")),
    ("web_case.toml", include_str!("web_case.toml")),
    ("web_record.toml", include_str!("web_record.toml")),
    ("web_supervise.toml", include_str!("web_supervise.toml")),
    ("web_referral.toml", include_str!("web_referral.toml")),
    ("web_access.toml", include_str!("web_access.toml")),
    ("web_tls.toml", include_str!("web_tls.toml")),
    ("web_bench.toml", include_str!("web_bench.toml")),
    ("i18n.toml", include_str!("i18n.toml")),
    ("help.toml", include_str!("help.toml")),
    ("errors.toml", include_str!("errors.toml")),
];

/// A display language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

/// One catalog entry: the two texts, and for a command's help its usage example (the same
/// in both languages, since it is a command line).
struct Entry {
    zh: String,
    en: String,
    example: Option<String>,
}

static LANG: OnceLock<Lang> = OnceLock::new();
static TEXTS: OnceLock<HashMap<String, Entry>> = OnceLock::new();

thread_local! {
    /// A language for this thread only: the web server answers each request in the language
    /// its browser chose, while the process keeps the one from its environment.
    static THREAD_LANG: std::cell::Cell<Option<Lang>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with `lang` in force on this thread (library errors, `tr!`), then restores the
/// previous choice.
pub fn with_lang<T>(lang: Lang, f: impl FnOnce() -> T) -> T {
    let before = THREAD_LANG.with(|c| c.replace(Some(lang)));
    struct Restore(Option<Lang>);
    impl Drop for Restore {
        fn drop(&mut self) {
            THREAD_LANG.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(before);
    f()
}

/// The language in force: this thread's (see [`with_lang`]), else chosen once from the
/// environment.
pub fn lang() -> Lang {
    if let Some(l) = THREAD_LANG.with(|c| c.get()) {
        return l;
    }
    *LANG.get_or_init(|| {
        let pick = |v: &str| {
            let v = v.to_ascii_lowercase();
            if v.starts_with("en") {
                Some(Lang::En)
            } else if v.starts_with("zh") {
                Some(Lang::Zh)
            } else {
                None
            }
        };
        for var in ["CASEVAULT_LANG", "LC_ALL", "LC_MESSAGES", "LANG"] {
            if let Ok(v) = std::env::var(var) {
                if let Some(l) = pick(&v) {
                    return l;
                }
            }
        }
        Lang::Zh
    })
}

fn texts() -> &'static HashMap<String, Entry> {
    TEXTS.get_or_init(|| {
        let mut map = HashMap::new();
        for (name, src) in CATALOGS {
            let table: toml::Table = toml::from_str(src)
                .unwrap_or_else(|e| panic!("i18n catalog {name} does not parse: {e}"));
            for (key, v) in table {
                let get = |lang: &str| {
                    v.get(lang)
                        .and_then(|s| s.as_str())
                        .unwrap_or_else(|| panic!("i18n key {key} in {name} lacks {lang}"))
                        .to_string()
                };
                let entry = Entry {
                    zh: get("zh"),
                    en: get("en"),
                    example: v
                        .get("example")
                        .and_then(|s| s.as_str())
                        .map(str::to_string),
                };
                assert!(
                    map.insert(key.clone(), entry).is_none(),
                    "i18n key {key} defined twice"
                );
            }
        }
        map
    })
}

/// True when the catalogs hold `key` (used by tests).
pub fn has(key: &str) -> bool {
    texts().contains_key(key)
}

/// The usage example of the command whose help key is `key`, if the catalog gives one.
pub fn example(key: &str) -> Option<&'static str> {
    texts().get(key).and_then(|e| e.example.as_deref())
}

/// The raw texts of `key` in both languages (used by tests and the help check).
pub fn raw(key: &str) -> Option<(&'static str, &'static str)> {
    texts().get(key).map(|e| (e.zh.as_str(), e.en.as_str()))
}

/// Every key of the catalogs with its two raw texts (used by tests).
pub fn all() -> Vec<(&'static str, &'static str, &'static str)> {
    texts()
        .iter()
        .map(|(k, e)| (k.as_str(), e.zh.as_str(), e.en.as_str()))
        .collect()
}

/// The noun an error names (`"client number"`), in the current language: from the catalog
/// key `noun.<what>` with spaces as `_`, else as given.
pub fn noun(what: &str) -> String {
    let key = format!("noun.{}", what.replace(' ', "_"));
    if has(&key) {
        text(&key, &[])
    } else {
        what.to_string()
    }
}

/// The text for `key` in the current language with its placeholders filled.
/// An unknown key shows itself, so a missing translation is visible, never a crash.
pub fn text(key: &str, args: &[(&str, String)]) -> String {
    text_in(lang(), key, args)
}

/// The text for `key` in `lang` (not the language in force), for documents that carry both
/// languages side by side.
pub fn text_in(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let raw = match texts().get(key) {
        Some(e) => match lang {
            Lang::Zh => e.zh.as_str(),
            Lang::En => e.en.as_str(),
        },
        None => key,
    };
    fill(key, raw, args)
}

/// Fills the placeholders of `raw` in one pass, so a value that itself contains `{…}` is
/// never expanded again:
///
/// - `{name}` is the argument `name`;
/// - `{name|one|other}` picks a plural form by the argument `name`: `one` when it is 1,
///   `other` otherwise (English needs no more; Chinese has no plural forms and uses `{name}`).
///
/// Anything else between braces (e.g. JSON in an example) is kept as written. A placeholder
/// whose argument is missing is a bug in the caller: debug builds (and so the tests) panic,
/// release builds show the placeholder.
pub fn fill(key: &str, raw: &str, args: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(raw.len() + 16);
    let mut rest = raw;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some((name, forms, len)) = after.find('}').and_then(|close| {
            let inner = &after[..close];
            let mut parts = inner.split('|');
            let name = parts.next()?;
            let forms: Vec<&str> = parts.collect();
            (is_ident(name) && (forms.is_empty() || forms.len() == 2))
                .then_some((name, forms, close))
        }) else {
            out.push('{');
            rest = after;
            continue;
        };
        match args.iter().find(|(n, _)| *n == name) {
            Some((_, value)) if forms.is_empty() => out.push_str(value),
            Some((_, value)) => out.push_str(if value.trim() == "1" {
                forms[0]
            } else {
                forms[1]
            }),
            None => {
                debug_assert!(
                    false,
                    "i18n key {key}: no argument for placeholder {{{name}}}"
                );
                out.push('{');
                out.push_str(&after[..=len]);
            }
        }
        rest = &after[len + 1..];
    }
    out.push_str(rest);
    out
}

/// A placeholder name: lowercase ASCII letters, digits and `_`, not starting with a digit.
fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// The placeholder names of a raw text (`{name}` and `{name|one|other}`), sorted, unique.
pub fn placeholders(raw: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = raw;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        if let Some(close) = after.find('}') {
            let inner = &after[..close];
            let mut parts = inner.split('|');
            let name = parts.next().unwrap_or("");
            let n = parts.count();
            if is_ident(name) && (n == 0 || n == 2) {
                names.push(name.to_string());
                rest = &after[close + 1..];
                continue;
            }
        }
        rest = after;
    }
    names.sort();
    names.dedup();
    names
}

/// `tr!("key", name = value, …)`: the localized text for `key`.
#[macro_export]
macro_rules! tr {
    ($key:literal) => {
        $crate::i18n::text($key, &[])
    };
    ($key:literal, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::i18n::text($key, &[$((stringify!($name), ($value).to_string())),+])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.rs` file under `src/` but this one, with its text.
    fn sources() -> Vec<(std::path::PathBuf, String)> {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut files = Vec::new();
        let mut stack = vec![std::path::PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.ends_with("i18n/mod.rs")
                {
                    let src = std::fs::read_to_string(&path).unwrap();
                    files.push((path, src));
                }
            }
        }
        files
    }

    /// Each `tr!(…)` call of `src`: its key and the names of the arguments it passes.
    fn tr_calls(src: &str) -> Vec<(String, Vec<String>)> {
        let mut calls = Vec::new();
        for (i, _) in src.match_indices("tr!(") {
            // Skip other macros ending in `tr!`, such as `include_str!`.
            let before = src[..i].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let body = &src[i + 4..];
            let trimmed = body.trim_start();
            let Some(rest) = trimmed.strip_prefix('"') else {
                continue; // the macro's own definition, or a doc comment
            };
            let key = rest[..rest.find('"').unwrap()].to_string();
            // The arguments: split at top-level commas up to the closing parenthesis.
            let mut depth = 0i32;
            let mut in_str = false;
            let mut escaped = false;
            let mut parts = vec![String::new()];
            for c in rest[key.len() + 1..].chars() {
                if in_str {
                    if escaped {
                        escaped = false;
                    } else if c == '\\' {
                        escaped = true;
                    } else if c == '"' {
                        in_str = false;
                    }
                    parts.last_mut().unwrap().push(c);
                    continue;
                }
                match c {
                    '"' => in_str = true,
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' if depth == 0 => break,
                    ')' | ']' | '}' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(String::new());
                        continue;
                    }
                    _ => {}
                }
                parts.last_mut().unwrap().push(c);
            }
            let names = parts
                .iter()
                .filter_map(|p| {
                    let (name, _) = p.split_once('=')?;
                    let name = name.trim();
                    is_ident(name).then(|| name.to_string())
                })
                .collect();
            calls.push((key, names));
        }
        calls
    }

    /// Every `tr!("…")` key used anywhere in `src/` exists in the catalogs.
    #[test]
    fn every_used_key_is_translated() {
        let mut missing = Vec::new();
        for (path, src) in sources() {
            for (key, _) in tr_calls(&src) {
                if !has(&key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:#?}");
    }

    /// Every noun an error names (`what: "…"`) has its `noun.` key, so no English word lands
    /// in a Chinese error (`找不到record 9999`).
    #[test]
    fn every_error_noun_is_translated() {
        let mut missing = Vec::new();
        for (path, src) in sources() {
            for (i, _) in src.match_indices("what: \"") {
                let rest = &src[i + 7..];
                let what = &rest[..rest.find('"').unwrap()];
                if !has(&format!("noun.{}", what.replace(' ', "_"))) {
                    missing.push(format!("{}: {what}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "nouns without a catalog entry: {missing:#?}"
        );
    }

    /// Checked arguments: both languages of a key use the same placeholders, and every
    /// `tr!` call passes exactly the placeholders of its key (a missing one would show
    /// `{name}` to the user; an extra one is a value the text forgot).
    #[test]
    fn every_call_supplies_the_placeholders() {
        let mut bad = Vec::new();
        for (key, zh, en) in all() {
            if placeholders(zh) != placeholders(en) {
                bad.push(format!(
                    "{key}: zh uses {:?}, en uses {:?}",
                    placeholders(zh),
                    placeholders(en)
                ));
            }
        }
        for (path, src) in sources() {
            for (key, mut names) in tr_calls(&src) {
                let Some((zh, en)) = raw(&key) else { continue };
                let mut wanted = placeholders(zh);
                wanted.extend(placeholders(en));
                wanted.sort();
                wanted.dedup();
                names.sort();
                names.dedup();
                if names != wanted {
                    bad.push(format!(
                        "{}: tr!(\"{key}\") passes {names:?}, the text uses {wanted:?}",
                        path.display()
                    ));
                }
            }
        }
        assert!(bad.is_empty(), "placeholder mismatches: {bad:#?}");
    }

    /// The words a Chinese text may contain in Latin letters: product and format names.
    /// Placeholders and anything in backquotes (commands, flags, file names) are allowed too.
    const ALLOWED_IN_ZH: &[&str] = &[
        "casevault",
        "CASEVAULT",
        "age",
        "minisign",
        "minisig",
        "JSON",
        "JSONL",
        "json",
        "jsonl",
        "HTML",
        "html",
        "UTC",
        "SQLite",
        "SQLCipher",
        "UTF",
        "Ed25519",
        "Shamir",
        "MiB",
        "GiB",
        "KiB",
        "PDF",
        "pdf",
        "TOML",
        "toml",
        "YYYY",
        "ASCII",
        "URL",
        "HTTP",
        "HTTPS",
        "SHA",
        "BLAKE",
        "X25519",
        "C2SP",
        "tlog",
        "PNG",
        "CSV",
        "API",
        "ssh",
        // The demo's staff login names.
        "limin",
        "wangfang",
        "chenchen",
    ];

    /// Texts that carry both languages on purpose (a printed bilingual form, a marker
    /// stored in a record that either reader must recognize).
    const BILINGUAL: &[&str] = &["referral.form", "requests.statement_marker"];

    /// Chinese texts have no English words in them (the issue's `找不到record 9999`).
    #[test]
    fn chinese_texts_have_no_english_words() {
        let mut bad = Vec::new();
        for (key, zh, _) in all() {
            if BILINGUAL.contains(&key) {
                continue;
            }
            let mut plain = String::new();
            let mut in_code = false;
            let mut in_ph = false;
            for c in zh.chars() {
                match c {
                    '`' => in_code = !in_code,
                    '{' if !in_code => in_ph = true,
                    '}' if in_ph => in_ph = false,
                    _ if in_code || in_ph => {}
                    _ => plain.push(c),
                }
                if c == '`' || c == '}' {
                    plain.push(' ');
                }
            }
            let words: Vec<&str> = plain
                .split(|c: char| !c.is_ascii_alphabetic())
                .filter(|w| w.len() >= 3 && !ALLOWED_IN_ZH.contains(w))
                .collect();
            if !words.is_empty() {
                bad.push(format!("{key}: {words:?} in {zh:?}"));
            }
        }
        bad.sort();
        assert!(
            bad.is_empty(),
            "{} Chinese texts with English words: {bad:#?}",
            bad.len()
        );
    }

    #[test]
    fn placeholders_are_filled() {
        assert!(!text("common.yes", &[]).is_empty());
        assert_eq!(text("no.such.key", &[]), "no.such.key");
        let args = [("count", "1".to_string()), ("x", "{count}".to_string())];
        assert_eq!(
            fill("k", "{count} {count|entry|entries}, {x} {\"a\": 1}", &args),
            "1 entry, {count} {\"a\": 1}"
        );
        let args = [("count", "2".to_string())];
        assert_eq!(
            fill("k", "{count} {count|entry|entries}", &args),
            "2 entries"
        );
        assert_eq!(
            placeholders("{b} {a|x|y} {\"j\": 1} {a}"),
            vec!["a".to_string(), "b".to_string()]
        );
    }
}

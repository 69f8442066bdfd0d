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
    ("errors.toml", include_str!("errors.toml")),
];

/// A display language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Zh,
    En,
}

static LANG: OnceLock<Lang> = OnceLock::new();
static TEXTS: OnceLock<HashMap<String, (String, String)>> = OnceLock::new();

/// The language in force: chosen once from the environment.
pub fn lang() -> Lang {
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

fn texts() -> &'static HashMap<String, (String, String)> {
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
                let pair = (get("zh"), get("en"));
                assert!(
                    map.insert(key.clone(), pair).is_none(),
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

/// The text for `key` in the current language with `{name}` placeholders filled.
/// An unknown key shows itself, so a missing translation is visible, never a crash.
pub fn text(key: &str, args: &[(&str, String)]) -> String {
    let raw = match texts().get(key) {
        Some((zh, en)) => match lang() {
            Lang::Zh => zh.as_str(),
            Lang::En => en.as_str(),
        },
        None => key,
    };
    let mut out = raw.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// The text for `key` in `lang` (not the language in force), for documents that carry both
/// languages side by side.
pub fn text_in(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let raw = match texts().get(key) {
        Some((zh, en)) => match lang {
            Lang::Zh => zh.as_str(),
            Lang::En => en.as_str(),
        },
        None => key,
    };
    let mut out = raw.to_string();
    for (name, value) in args {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
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

    /// Every `tr!("…")` key used anywhere in `src/` exists in the catalogs.
    #[test]
    fn every_used_key_is_translated() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut missing = Vec::new();
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
                    for (i, _) in src.match_indices("tr!(\"") {
                        // Skip other macros ending in `tr!`, such as `include_str!`.
                        let before = src[..i].chars().next_back();
                        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                            continue;
                        }
                        let rest = &src[i + 5..];
                        let key = &rest[..rest.find('"').unwrap()];
                        if !has(key) {
                            missing.push(format!("{}: {key}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(missing.is_empty(), "untranslated keys: {missing:#?}");
    }

    #[test]
    fn placeholders_are_filled() {
        assert!(!text("common.yes", &[]).is_empty());
        assert_eq!(text("no.such.key", &[]), "no.such.key");
    }
}

//! The case-work domain: clients, cases, records. Plain types and the rules on them, with no
//! storage and no cryptography, so they read like the agency standards they encode.

mod case;
mod client;
mod consent;
pub mod passphrase;
mod record;
mod request;
pub mod text;
pub mod time;

pub use case::{Case, Source, Stage};
pub use client::{Category, Client, ClientProblem, Gender, Guardian, NewClient, Risk};
pub use consent::{Consent, ConsentBar, ConsentProblem, ConsentTerms, SignerRole};
pub use record::{
    check_attachment_name, AttachmentDescriptor, RecordContent, RecordMeta, MAX_RECORD_ATTACHMENTS,
    MAX_RECORD_ATTACHMENT_BYTES, MAX_RECORD_ATTACHMENT_NAME_BYTES, RECORD_CONTENT_VERSION,
};
pub use request::{Authority, Request, RequestKind, RequestStatus, Withheld};

/// Declares a closed set of coded values with a Chinese and an English label, parsed from the
/// code, either label, or (for scripts) the English word.
macro_rules! labeled_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $code:literal, $zh:literal, $en:literal;)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($var),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The stable code stored and used in JSON.
            pub fn code(self) -> &'static str { match self { $($name::$var => $code),+ } }
            /// The label in the current language.
            pub fn label(self) -> &'static str {
                match (self, $crate::i18n::lang()) {
                    $(($name::$var, $crate::i18n::Lang::Zh) => $zh,
                      ($name::$var, $crate::i18n::Lang::En) => $en,)+
                }
            }
            /// The label in `lang` (a web page's language is chosen per request).
            pub fn label_in(self, lang: $crate::i18n::Lang) -> &'static str {
                match (self, lang) {
                    $(($name::$var, $crate::i18n::Lang::Zh) => $zh,
                      ($name::$var, $crate::i18n::Lang::En) => $en,)+
                }
            }
            /// Parses a code or a label (Chinese or English).
            pub fn parse(s: &str) -> Option<$name> {
                let s = s.trim();
                $(if s.eq_ignore_ascii_case($code) || s == $zh || s.eq_ignore_ascii_case($en) {
                    return Some($name::$var);
                })+
                None
            }
            /// The accepted codes, for error messages.
            pub fn codes() -> String {
                [$($code),+].join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.label())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.code())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| serde::de::Error::custom(
                    format!("unknown value {s:?}; expected one of {}", $name::codes())))
            }
        }
    };
}
pub(crate) use labeled_enum;

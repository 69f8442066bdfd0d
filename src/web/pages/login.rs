//! The sign-in page (the only page for a browser that is not signed in), and the sign-in
//! through the agent reached by a one-time link (docs/web.md, "Sign-in through the agent").

use maud::html;

use crate::i18n::Lang;
use crate::web::http::{Request, Response};
use crate::web::layout::{document, lang_switch};

/// What the sign-in page shows besides the form.
#[derive(Default)]
pub struct Extras<'a> {
    /// The certificate's SHA-256 fingerprint when serving HTTPS.
    pub fingerprint: Option<&'a str>,
    /// Names the agent of the user who started `serve` holds for this vault (loopback only).
    pub agent_names: Vec<String>,
    /// A notice above the form (not an error), e.g. "the link was printed".
    pub notice: Option<String>,
}

/// The sign-in form with its double-submit CSRF `token`, and `error` above it if any.
pub fn page(lang: Lang, token: &str, error: Option<&str>, status: u16, x: &Extras) -> Response {
    let t = |k: &str| crate::i18n::text_in(lang, k, &[]);
    let title = t("web.signin_title");
    let body = html! {
        header { span.brand { (t("web.brand")) } (lang_switch(lang)) }
        main {
            h1 { (title) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            @if let Some(n) = &x.notice { p.notice role="status" { (n) } }
            @if let Some(f) = x.fingerprint {
                section.fingerprint {
                    p { (t("web.tls_fingerprint_label")) }
                    p { code #fingerprint { (f) } }
                    p { (t("web.tls_compare")) }
                }
            }
            form method="post" action="/login" autocomplete="off" {
                input type="hidden" name="csrf" value=(token);
                label { (t("web.name")) input name="name" required autofocus; }
                label { (t("web.passphrase")) input name="passphrase" type="password" required; }
                button type="submit" { (t("web.signin")) }
            }
            @if !x.agent_names.is_empty() {
                section.agent {
                    p { (crate::i18n::text_in(lang, "web.agent_holds", &[("names", x.agent_names.join("、"))])) }
                    form method="post" action="/login/agent" {
                        input type="hidden" name="csrf" value=(token);
                        button type="submit" { (t("web.agent_signin")) }
                    }
                    p { (t("web.agent_link_why")) }
                }
            }
        }
    };
    Response::html(status, document(lang, &title, body).into_string())
}

/// The page a one-time link opens: one button per name the agent holds.
pub fn agent_page(lang: Lang, token: &str, link: &str, names: &[String]) -> Response {
    let t = |k: &str| crate::i18n::text_in(lang, k, &[]);
    let title = t("web.agent_signin");
    let action = format!("/login/agent/{link}");
    let body = html! {
        header { span.brand { (t("web.brand")) } (lang_switch(lang)) }
        main {
            h1 { (title) }
            @if names.is_empty() { p.error role="alert" { (t("web.agent_none")) } }
            @for n in names {
                form method="post" action=(action) {
                    input type="hidden" name="csrf" value=(token);
                    input type="hidden" name="name" value=(n);
                    button type="submit" { (title) "：" (n) }
                }
            }
        }
    };
    Response::html(200, document(lang, &title, body).into_string())
}

/// A refusal on the sign-in side (bad or used link, agent on a LAN), with a way back.
pub fn refused(lang: Lang, message: &str, status: u16) -> Response {
    let t = |k: &str| crate::i18n::text_in(lang, k, &[]);
    let title = t("web.signin_title");
    let body = html! {
        header { span.brand { (t("web.brand")) } (lang_switch(lang)) }
        main {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href="/login" { (t("web.back_to_signin")) } }
        }
    };
    Response::html(status, document(lang, &title, body).into_string())
}

/// The sign-in CSRF token this browser holds, or a new one with the cookie that sets it.
pub fn token(req: &Request) -> (String, Option<String>) {
    match req.cookie(super::super::LOGIN_COOKIE) {
        Some(t) if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            (t.to_string(), None)
        }
        _ => {
            let t = super::super::random_token();
            let c = super::super::cookie(super::super::LOGIN_COOKIE, &t);
            (t, Some(c))
        }
    }
}

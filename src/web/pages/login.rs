//! The sign-in page (the only page for a browser that is not signed in).

use maud::html;

use crate::i18n::Lang;
use crate::web::http::{Request, Response};
use crate::web::layout::{document, lang_switch};

/// The sign-in form with its double-submit CSRF `token`, and `error` above it if any.
pub fn page(lang: Lang, token: &str, error: Option<&str>, status: u16) -> Response {
    let t = |k: &str| crate::i18n::text_in(lang, k, &[]);
    let title = t("web.signin_title");
    let body = html! {
        header { span.brand { (t("web.brand")) } (lang_switch(lang)) }
        main {
            h1 { (title) }
            @if let Some(e) = error { p.error role="alert" { (e) } }
            form method="post" action="/login" autocomplete="off" {
                input type="hidden" name="csrf" value=(token);
                label { (t("web.name")) input name="name" required autofocus; }
                label { (t("web.passphrase")) input name="passphrase" type="password" required; }
                button type="submit" { (t("web.signin")) }
            }
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

//! The frame every page shares (head, header with the navigation the role may use, the
//! language switch) and the per-request context the pages work with. Templates are `maud`:
//! every value is escaped unless wrapped in `PreEscaped`, which only literals of ours use.

use std::sync::{mpsc, Arc};

use maud::{html, Markup, DOCTYPE};

use super::http::{Request, Response};
use super::session::{call, Job, Me};
use crate::error::{Error, Family};
use crate::i18n::{text_in, Lang};
use crate::policy::{Action, Role};
use crate::vault::Session;

/// What a page handler returns: `Err` is an early answer (sign-in redirect, refusal, error
/// page), so handlers can use `?`.
pub type Page = std::result::Result<Response, Response>;

/// One request of a signed-in member.
pub struct Ctx<'a> {
    pub req: &'a Request,
    pub lang: Lang,
    /// The session's CSRF token, for the forms this page renders.
    pub csrf: String,
    pub me: Arc<Me>,
    pub(super) tx: mpsc::Sender<Job>,
    /// Seconds after which a signed-in page reloads to the sign-in page (the idle lock plus
    /// a margin), so client names do not stay on screen once the session is locked.
    pub(super) refresh: u64,
    pub(super) submitted: Arc<super::session::Submitted>,
}

impl Ctx<'_> {
    /// A catalog text in the request's language.
    pub fn t(&self, key: &str) -> String {
        text_in(self.lang, key, &[])
    }

    /// A catalog text with arguments in the request's language.
    pub fn tr(&self, key: &str, args: &[(&str, String)]) -> String {
        text_in(self.lang, key, args)
    }

    /// Runs `f` on the member's session (in the request's language, so library errors come
    /// translated). A session locked meanwhile sends the browser to sign in.
    pub fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> std::result::Result<T, Response> {
        call(&self.tx, self.lang, f).ok_or_else(|| Response::redirect("/login"))
    }

    /// Like [`Ctx::call`] for library calls: an error becomes the error page.
    pub fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Session) -> crate::error::Result<T> + Send + 'static,
    ) -> std::result::Result<T, Response> {
        self.call(f)?.map_err(|e| self.error(&e))
    }

    /// Every state-changing request carries the session's CSRF token in its form.
    pub fn check_csrf(&self) -> std::result::Result<(), Response> {
        match self.req.form("csrf") {
            Some(f) if super::ct_eq(self.csrf.as_bytes(), f.as_bytes()) => Ok(()),
            _ => Err(Response::text(403, "csrf token refused\n")),
        }
    }

    /// Refuses (403, explained) unless the role may do `a`; pages call it before offering or
    /// doing anything, and the library checks again.
    pub fn require(&self, a: Action) -> std::result::Result<(), Response> {
        if self.me.may(a) {
            Ok(())
        } else {
            Err(self.refusal(&self.t("web.not_for_role")))
        }
    }

    /// The hidden CSRF field every form carries.
    /// The hidden CSRF field every form carries, and a fresh one-time token for
    /// [`Ctx::once`].
    pub fn csrf_field(&self) -> Markup {
        html! {
            input type="hidden" name="csrf" value=(self.csrf);
            input type="hidden" name="once" value=(super::random_token());
        }
    }

    /// For a POST that discloses or creates something: refuses (409, explained) a form that
    /// was already submitted in this session (a double click, a reload, a replay), so it is
    /// done once.
    pub fn once(&self) -> std::result::Result<(), Response> {
        let token = self.req.form("once");
        let token = token.as_deref().map(String::as_str).unwrap_or("");
        let fresh = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
        if fresh && self.submitted.first(token) {
            Ok(())
        } else {
            Err(self.page_with(
                409,
                &self.t("web.refused_title"),
                html! { p.error role="alert" { (self.t("web.already_submitted")) } },
            ))
        }
    }

    /// A page in the frame, status 200.
    pub fn page(&self, title: &str, body: Markup) -> Response {
        self.page_with(200, title, body)
    }

    pub fn page_with(&self, status: u16, title: &str, body: Markup) -> Response {
        let doc = document_with(
            self.lang,
            title,
            Some(self.refresh),
            html! {
                (header(self))
                main { h1 { (title) } (body) }
            },
        );
        Response::html(status, doc.into_string())
    }

    /// A library error as a page: its translated message and an HTTP status by its family.
    pub fn error(&self, e: &Error) -> Response {
        let msg = crate::i18n::with_lang(self.lang, || e.to_string());
        let status = status_of(e.family());
        self.page_with(
            status,
            &self.t("web.error_title"),
            html! { p.error role="alert" { (msg) } },
        )
    }

    /// A refusal page (403) with `why`.
    pub fn refusal(&self, why: &str) -> Response {
        self.page_with(
            403,
            &self.t("web.refused_title"),
            html! { p.error role="alert" { (why) } },
        )
    }
}

/// The HTTP status for a library error's family.
pub fn status_of(f: Family) -> u16 {
    match f {
        Family::Usage => 400,
        Family::Auth | Family::Refused => 403,
        Family::NotFound => 404,
        Family::Busy => 503,
        Family::AwaitingWitnesses => 202,
        Family::Alarm | Family::Other => 500,
    }
}

/// The navigation: (path, catalog key, shown when). Only what the role may use is offered.
const NAV: &[(&str, &str, Show)] = &[
    ("/cases", "web.nav_cases", Show::May(Action::ClientRead)),
    (
        "/clients/new",
        "web.nav_intake",
        Show::May(Action::ClientAdd),
    ),
    ("/queue", "web.nav_queue", Show::Role(Role::Supervisor)),
    (
        "/referrals",
        "web.nav_referrals",
        Show::May(Action::ReferralExport),
    ),
    (
        "/requests",
        "web.nav_requests",
        Show::May(Action::RequestManage),
    ),
    ("/audit", "web.nav_audit", Show::May(Action::AuditRun)),
    ("/log", "web.nav_log", Show::May(Action::LogVerify)),
];

enum Show {
    May(Action),
    Role(Role),
}

fn shown(me: &Me, s: &Show) -> bool {
    match s {
        Show::May(a) => me.may(*a),
        Show::Role(r) => me.role == *r,
    }
}

/// Where `/` takes a signed-in member: the first page of the navigation they may use.
pub fn home(me: &Me) -> &'static str {
    NAV.iter()
        .find(|(_, _, s)| shown(me, s))
        .map(|(p, _, _)| *p)
        .unwrap_or("/account")
}

fn header(ctx: &Ctx) -> Markup {
    let role_key = format!("policy.role.{}", ctx.me.role.as_str());
    html! {
        header {
            span.brand { (ctx.t("web.brand")) }
            nav {
                @for (path, key, show) in NAV {
                    @if shown(&ctx.me, show) {
                        @let here = ctx.req.path == *path || ctx.req.path.starts_with(&format!("{path}/"));
                        a href=(path) aria-current=[here.then_some("page")] { (ctx.t(key)) }
                    }
                }
            }
            span.who { (ctx.me.name) " · " (text_in(ctx.lang, &role_key, &[])) }
            (lang_switch(ctx.lang))
            form method="post" action="/logout" {
                (ctx.csrf_field())
                button type="submit" { (ctx.t("web.signout")) }
            }
        }
    }
}

/// A link to the same page in the other language (a query-only URL, so it stays on this
/// path; the choice is kept in a cookie).
pub fn lang_switch(lang: Lang) -> Markup {
    match lang {
        Lang::Zh => html! { a.lang href="?lang=en" hreflang="en" { "English" } },
        Lang::En => html! { a.lang href="?lang=zh" hreflang="zh" { "中文" } },
    }
}

/// A whole HTML document: no script, one stylesheet of ours.
pub fn document(lang: Lang, title: &str, body: Markup) -> Markup {
    document_with(lang, title, None, body)
}

/// [`document`], reloading to `/login` after `refresh` seconds (signed-in pages; CSP does
/// not govern `<meta http-equiv="refresh">`).
fn document_with(lang: Lang, title: &str, refresh: Option<u64>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(if lang == Lang::En { "en" } else { "zh-CN" }) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(s) = refresh {
                    meta http-equiv="refresh" content=(format!("{s};url=/login"));
                }
                title { (title) }
                link rel="stylesheet" href="/static/style.css";
            }
            body { (body) }
        }
    }
}

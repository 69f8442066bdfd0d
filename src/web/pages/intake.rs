//! Intake (`/clients/new`): the client register form (what `client add` takes), a duplicate
//! check before saving (`Session::client_similar`) that needs a confirmation to save anyway,
//! and optionally a case opened in the same step; then the new case's page.

use maud::{html, Markup};

use crate::domain::time::Date;
use crate::domain::{Category, Client, Gender, Guardian, NewClient, Risk, Source};
use crate::error::Error;
use crate::policy::Action;
use crate::web::http::Response;
use crate::web::layout::{status_of, Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    match (method, segs) {
        ("GET", ["clients", "new"]) => Some(form_page(ctx)),
        ("POST", ["clients", "new"]) => Some(ctx.once().and_then(|_| submit(ctx))),
        _ => None,
    }
}

/// The fields as typed (shown again, escaped, when the form comes back).
#[derive(Default, Clone)]
struct Typed {
    number: String,
    name: String,
    birth_date: String,
    gender: String,
    phone: String,
    address: String,
    id_number: String,
    guardian_name: String,
    guardian_relation: String,
    guardian_phone: String,
    risk: String,
    category: String,
    open_case: bool,
    source: String,
    confirm: bool,
}

impl Typed {
    fn from(ctx: &Ctx) -> Typed {
        let f = |k: &str| {
            ctx.req
                .form(k)
                .map(|v| v.trim().to_string())
                .unwrap_or_default()
        };
        Typed {
            number: f("number"),
            name: f("name"),
            birth_date: f("birth_date"),
            gender: f("gender"),
            phone: f("phone"),
            address: f("address"),
            id_number: f("id_number"),
            guardian_name: f("guardian_name"),
            guardian_relation: f("guardian_relation"),
            guardian_phone: f("guardian_phone"),
            risk: f("risk"),
            category: f("category"),
            open_case: !f("open_case").is_empty(),
            source: f("source"),
            confirm: !f("confirm").is_empty(),
        }
    }

    /// The new client, or the translated reason the typed values cannot be one.
    fn client(&self, ctx: &Ctx) -> Result<NewClient, String> {
        let bad = |what: &str, value: &str, codes: String| {
            ctx.tr(
                "web.case.bad_choice",
                &[
                    ("what", ctx.t(what)),
                    ("value", value.to_string()),
                    ("codes", codes),
                ],
            )
        };
        fn pick(v: &str) -> Option<&str> {
            (!v.is_empty()).then_some(v)
        }
        let birth_date = match pick(&self.birth_date) {
            None => None,
            Some(s) => Some(
                Date::parse(s)
                    .ok_or_else(|| ctx.tr("web.case.bad_date", &[("value", s.to_string())]))?,
            ),
        };
        let gender = match pick(&self.gender) {
            None => Gender::Unstated,
            Some(s) => {
                Gender::parse(s).ok_or_else(|| bad("web.case.f_gender", s, Gender::codes()))?
            }
        };
        let risk = match pick(&self.risk) {
            None => Risk::None,
            Some(s) => Risk::parse(s).ok_or_else(|| bad("web.case.f_risk", s, Risk::codes()))?,
        };
        let category = match pick(&self.category) {
            None => Category::Basic,
            Some(s) => Category::parse(s)
                .ok_or_else(|| bad("web.case.f_category", s, Category::codes()))?,
        };
        let mut guardians = Vec::new();
        if !self.guardian_name.is_empty()
            || !self.guardian_relation.is_empty()
            || !self.guardian_phone.is_empty()
        {
            guardians.push(Guardian {
                name: self.guardian_name.clone(),
                relation: self.guardian_relation.clone(),
                phone: self.guardian_phone.clone(),
            });
        }
        Ok(NewClient {
            number: self.number.clone(),
            name: self.name.clone(),
            birth_date,
            gender,
            phone: self.phone.clone(),
            address: self.address.clone(),
            id_number: self.id_number.clone(),
            guardians,
            risk,
            category,
        })
    }

    fn source(&self, ctx: &Ctx) -> Result<Source, String> {
        if self.source.is_empty() {
            return Ok(Source::SelfReferred);
        }
        Source::parse(&self.source).ok_or_else(|| {
            ctx.tr(
                "web.case.bad_choice",
                &[
                    ("what", ctx.t("web.case.f_source")),
                    ("value", self.source.clone()),
                    ("codes", Source::codes()),
                ],
            )
        })
    }
}

/// What the duplicate check found.
struct Similar {
    /// Each client the member may see, with the ids of their cases the member may open.
    seen: Vec<(Client, Vec<i64>)>,
    hidden: usize,
}

fn form_page(ctx: &Ctx) -> Page {
    ctx.require(Action::ClientAdd)?;
    let typed = Typed {
        open_case: ctx.me.may(Action::CaseOpen),
        ..Typed::default()
    };
    Ok(ctx.page(
        &ctx.t("web.case.intake_title"),
        form(ctx, &typed, None, None),
    ))
}

enum Outcome {
    /// Possible duplicates and no confirmation yet: nothing saved.
    Duplicates(Similar),
    /// Saved; the case opened with it, if asked.
    Saved(Client, Option<i64>),
    /// Saved, but opening the case failed (the client stays; a case can be opened later).
    CaseFailed(Client, Error),
}

fn submit(ctx: &Ctx) -> Page {
    ctx.require(Action::ClientAdd)?;
    let typed = Typed::from(ctx);
    let again = |status: u16, msg: Option<String>, similar: Option<&Similar>| {
        ctx.page_with(
            status,
            &ctx.t("web.case.intake_title"),
            form(ctx, &typed, msg.as_deref(), similar),
        )
    };
    let client = match typed.client(ctx) {
        Ok(c) => c,
        Err(msg) => return Ok(again(400, Some(msg), None)),
    };
    let source = if typed.open_case {
        if !ctx.me.may(Action::CaseOpen) {
            return Err(ctx.refusal(&ctx.t("web.not_for_role")));
        }
        match typed.source(ctx) {
            Ok(s) => Some(s),
            Err(msg) => return Ok(again(400, Some(msg), None)),
        }
    } else {
        None
    };
    let confirm = typed.confirm;
    let lang = ctx.lang;
    let out = ctx.call(move |s| -> crate::error::Result<Outcome> {
        client.check(crate::domain::time::today())?;
        if !confirm {
            let (seen, hidden) = s.client_similar(&client)?;
            if !seen.is_empty() || hidden > 0 {
                let mut with_cases = Vec::new();
                for c in seen {
                    let cases = s.case_list(Some(&c.data.number))?;
                    with_cases.push((c, cases.iter().map(|k| k.id).collect()));
                }
                let seen = with_cases;
                return Ok(Outcome::Duplicates(Similar { seen, hidden }));
            }
        }
        let c = s.client_add(&client)?;
        let Some(source) = source else {
            return Ok(Outcome::Saved(c, None));
        };
        match s.case_open(&c.data.number, source, &[]) {
            Ok(case) => Ok(Outcome::Saved(c, Some(case.id))),
            Err(e) => Ok(Outcome::CaseFailed(c, e)),
        }
    })?;
    match out {
        Err(e) => {
            let msg = crate::i18n::with_lang(lang, || e.to_string());
            Ok(again(status_of(e.family()), Some(msg), None))
        }
        Ok(Outcome::Duplicates(similar)) => Ok(again(200, None, Some(&similar))),
        Ok(Outcome::Saved(_, Some(case))) => Ok(Response::see_other(format!("/cases/{case}"))),
        Ok(Outcome::Saved(c, None)) => Ok(saved(ctx, &c, None)),
        Ok(Outcome::CaseFailed(c, e)) => {
            let msg = crate::i18n::with_lang(lang, || e.to_string());
            Ok(saved(ctx, &c, Some(&msg)))
        }
    }
}

/// The client is registered and no case was opened (not asked, or it failed).
fn saved(ctx: &Ctx, c: &Client, error: Option<&str>) -> Response {
    let body = html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        p.ok role="status" {
            (ctx.tr("web.case.client_saved", &[("number", c.data.number.clone()), ("name", c.data.name.clone())]))
        }
        p { a href="/cases" { (ctx.t("web.my_cases")) } }
    };
    ctx.page(&ctx.t("web.case.intake_title"), body)
}

fn select<T: Copy + PartialEq>(
    name: &str,
    all: &[T],
    current: &str,
    default: T,
    code: impl Fn(T) -> &'static str,
    label: impl Fn(T) -> &'static str,
) -> Markup {
    html! {
        select name=(name) {
            @for v in all {
                @let selected = if current.is_empty() { *v == default } else { code(*v) == current };
                option value=(code(*v)) selected[selected] { (label(*v)) }
            }
        }
    }
}

fn form(ctx: &Ctx, t: &Typed, error: Option<&str>, similar: Option<&Similar>) -> Markup {
    let l = ctx.lang;
    let text = |name: &str, key: &str, value: &str, required: bool| {
        html! {
            label {
                (ctx.t(key))
                input type="text" name=(name) value=(value) required[required];
            }
        }
    };
    html! {
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if let Some(s) = similar {
            section.duplicates role="alert" aria-labelledby="dup-h" {
                h2 #dup-h { (ctx.t("web.case.duplicates")) }
                @if !s.seen.is_empty() {
                    ul {
                        @for (c, cases) in &s.seen {
                            li {
                                (c.data.number) " " (c.data.name)
                                @if !c.data.phone.is_empty() { " · " (c.data.phone) }
                                @if let Some(b) = c.data.birth_date { " · " (b.to_string()) }
                                @for id in cases {
                                    " "
                                    a href=(format!("/cases/{id}")) { (ctx.tr("web.case.case_n", &[("id", id.to_string())])) }
                                }
                            }
                        }
                    }
                }
                @if s.hidden > 0 {
                    p { (ctx.tr("web.case.dup_hidden", &[("n", s.hidden.to_string())])) }
                }
                p { (ctx.t("web.case.dup_hint")) }
            }
        }
        form.intake method="post" action="/clients/new" autocomplete="off" {
            (ctx.csrf_field())
            fieldset {
                legend { (ctx.t("web.case.client_fields")) }
                (text("number", "web.case.f_number", &t.number, true))
                (text("name", "web.case.f_name", &t.name, true))
                label {
                    (ctx.t("web.case.f_birth_date"))
                    input type="date" name="birth_date" value=(t.birth_date);
                }
                label {
                    (ctx.t("web.case.f_gender"))
                    (select("gender", Gender::ALL, &t.gender, Gender::Unstated, Gender::code, |g| g.label_in(l)))
                }
                (text("phone", "web.case.f_phone", &t.phone, false))
                (text("id_number", "web.case.f_id_number", &t.id_number, false))
                (text("address", "web.case.f_address", &t.address, false))
                label {
                    (ctx.t("web.case.f_risk"))
                    (select("risk", Risk::ALL, &t.risk, Risk::None, Risk::code, |r| r.label_in(l)))
                }
                label {
                    (ctx.t("web.case.f_category"))
                    (select("category", Category::ALL, &t.category, Category::Basic, Category::code, |c| c.label_in(l)))
                }
            }
            fieldset {
                legend { (ctx.t("web.case.guardian_fields")) }
                (text("guardian_name", "web.case.f_guardian_name", &t.guardian_name, false))
                (text("guardian_relation", "web.case.f_guardian_relation", &t.guardian_relation, false))
                (text("guardian_phone", "web.case.f_guardian_phone", &t.guardian_phone, false))
            }
            @if ctx.me.may(Action::CaseOpen) {
                fieldset {
                    legend { (ctx.t("web.case.case_fields")) }
                    label.check {
                        input type="checkbox" name="open_case" value="1" checked[t.open_case];
                        (ctx.t("web.case.f_open_case"))
                    }
                    label {
                        (ctx.t("web.case.f_source"))
                        (select("source", Source::ALL, &t.source, Source::SelfReferred, Source::code, |s| s.label_in(l)))
                    }
                }
            }
            @if similar.is_some() {
                label.check.confirm {
                    input type="checkbox" name="confirm" value="1";
                    (ctx.t("web.case.f_confirm"))
                }
            }
            button type="submit" { (ctx.t("web.case.save_client")) }
        }
    }
}

//! Consents (issue 13): the case client's consents and a form to record one
//! (`/cases/{id}/consents`), one consent with its revocation (`/consents/{id}`, revoked through
//! a confirm step) and the printable form the client or guardian signs (`/consents/{id}/form`).
//!
//! Every rule is the library's (`consent_add`, `consent_revoke`); this page only parses the
//! form's dates and lists. The scanned paper form (`consent add --form`) is not taken here:
//! our HTTP server reads urlencoded bodies of at most 64 KiB and no multipart, so the scan is
//! stored with the command line (docs/web.md, "Consents").

use maud::{html, Markup};

use crate::domain::time::{format_time, today, Date};
use crate::domain::{Client, Consent, ConsentTerms, SignerRole};
use crate::error::{Error, Family, Result};
use crate::i18n::{text_in, Lang};
use crate::policy::Action;
use crate::vault::Session;
use crate::web::http::{Request, Response};
use crate::web::layout::{status_of, Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    match (method, segs) {
        ("GET", ["cases", c, "consents"]) => id(c).map(|c| list(ctx, c)),
        ("POST", ["cases", c, "consents"]) => id(c).map(|c| ctx.once().and_then(|_| add(ctx, c))),
        ("GET", ["consents", c]) => id(c).map(|c| show(ctx, c)),
        ("GET", ["consents", c, "form"]) => id(c).map(|c| form(ctx, c)),
        ("POST", ["consents", c, "revoke"]) => id(c).map(|c| revoke(ctx, c)),
        _ => None,
    }
}

/// The client `id` (looked up by id: `client_show` tries a number first, and a number may
/// look like another client's id).
fn client_by_id(s: &Session, id: i64) -> Result<Client> {
    let c = s.client_show(&id.to_string())?;
    if c.id == id {
        return Ok(c);
    }
    s.client_list()?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(Error::NotFound {
            what: "client",
            id: id.to_string(),
        })
}

/// What the consent form offers: the active partner agencies, the policy's record kinds and
/// tiers (labels in the request's language).
struct Choices {
    agencies: Vec<String>,
    kinds: Vec<(String, String)>,
    tiers: Vec<(u8, String)>,
}

fn choices(s: &Session, lang: Lang) -> Result<Choices> {
    let pick = |zh: &str, en: &str| if lang == Lang::En { en } else { zh }.to_string();
    Ok(Choices {
        agencies: s
            .agency_list()?
            .into_iter()
            .filter(|a| a.active)
            .map(|a| a.name)
            .collect(),
        kinds: s
            .policy
            .templates
            .values()
            .map(|t| (t.kind.clone(), pick(&t.label_zh, &t.label_en)))
            .collect(),
        tiers: s
            .policy
            .tiers
            .iter()
            .map(|t| (t.level, pick(&t.label_zh, &t.label_en)))
            .collect(),
    })
}

/// The consent form's values as typed (re-shown, escaped, when the library refuses them).
#[derive(Default)]
struct Typed {
    agency: String,
    signer: String,
    signer_name: String,
    authority: String,
    purposes: String,
    kinds: Vec<String>,
    tiers: Vec<String>,
    description: String,
    separate: bool,
    revoke_how: String,
    redisclosure: String,
    signed: String,
    expires: String,
}

impl Typed {
    fn fresh(ctx: &Ctx) -> Typed {
        Typed {
            signer: "client".into(),
            authority: ctx.t("web.sv_authority_self"),
            redisclosure: ctx.t("referral.default_redisclosure"),
            signed: today().to_string(),
            ..Typed::default()
        }
    }

    fn from_req(r: &Request) -> Typed {
        let f = |n: &str| r.form(n).map(|v| v.to_string()).unwrap_or_default();
        let all = |n: &str| r.form_all(n).iter().map(|v| v.to_string()).collect();
        Typed {
            agency: f("agency"),
            signer: f("signer"),
            signer_name: f("signer_name"),
            authority: f("authority"),
            purposes: f("purposes"),
            kinds: all("kinds"),
            tiers: all("tiers"),
            description: f("description"),
            separate: r.form("separate_consent").is_some(),
            revoke_how: f("revoke_how"),
            redisclosure: f("redisclosure"),
            signed: f("signed"),
            expires: f("expires"),
        }
    }

    /// The terms, or the translated reason the form's own parsing refuses them (dates,
    /// signer, tier numbers); every other rule is `consent_add`'s.
    fn terms(&self, ctx: &Ctx) -> std::result::Result<ConsentTerms, String> {
        let date = |v: &str| {
            Date::parse(v).ok_or_else(|| ctx.tr("referral.bad_date", &[("value", v.to_string())]))
        };
        let tiers = self
            .tiers
            .iter()
            .map(|t| t.trim().parse::<u8>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|_| ctx.tr("referral.bad_list", &[("value", self.tiers.join(","))]))?;
        Ok(ConsentTerms {
            signer_role: SignerRole::parse(&self.signer)
                .ok_or_else(|| ctx.t("referral.bad_signer"))?,
            signer_name: self.signer_name.trim().to_string(),
            authority: self.authority.trim().to_string(),
            purposes: self
                .purposes
                .lines()
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            kinds: self.kinds.clone(),
            tiers,
            description: self.description.clone(),
            separate_consent: self.separate,
            revoke_how: self.revoke_how.trim().to_string(),
            redisclosure_notice: self.redisclosure.clone(),
            signed_on: date(&self.signed)?,
            expires_on: date(&self.expires)?,
        })
    }
}

/// A consent's state today: in force, expired or revoked (with its day).
fn state(ctx: &Ctx, c: &Consent) -> String {
    if let Some(d) = c.revoked_on {
        return ctx.tr("web.sv_revoked_on", &[("date", d.to_string())]);
    }
    if c.terms.expires_on <= today() {
        return ctx.t("web.sv_expired");
    }
    if c.terms.signed_on > today() {
        return ctx.t("web.sv_not_yet");
    }
    ctx.t("web.sv_in_force")
}

fn kind_labels(ch: &Choices, kinds: &[String]) -> String {
    kinds
        .iter()
        .map(|k| {
            ch.kinds
                .iter()
                .find(|(key, _)| key == k)
                .map_or(k.clone(), |(_, l)| l.clone())
        })
        .collect::<Vec<_>>()
        .join("、")
}

fn tier_labels(ch: &Choices, tiers: &[u8]) -> String {
    tiers
        .iter()
        .map(|t| {
            ch.tiers
                .iter()
                .find(|(l, _)| l == t)
                .map_or(t.to_string(), |(l, n)| format!("{l} {n}"))
        })
        .collect::<Vec<_>>()
        .join("、")
}

struct CaseConsents {
    client: Client,
    consents: Vec<Consent>,
    choices: Choices,
}

fn load(ctx: &Ctx, case_id: i64) -> std::result::Result<CaseConsents, Response> {
    ctx.require(Action::ClientRead)?;
    let lang = ctx.lang;
    ctx.run(move |s| {
        let case = s.case_show(case_id)?;
        let client = client_by_id(s, case.client_id)?;
        let consents = s.consents_of(client.id)?;
        Ok(CaseConsents {
            client,
            consents,
            choices: choices(s, lang)?,
        })
    })
}

fn list(ctx: &Ctx, case_id: i64) -> Page {
    let data = load(ctx, case_id)?;
    Ok(render_list(
        ctx,
        case_id,
        &data,
        &Typed::fresh(ctx),
        None,
        200,
    ))
}

fn add(ctx: &Ctx, case_id: i64) -> Page {
    ctx.require(Action::ConsentManage)?;
    let data = load(ctx, case_id)?;
    let typed = Typed::from_req(ctx.req);
    let terms = match typed.terms(ctx) {
        Ok(t) => t,
        Err(msg) => return Ok(render_list(ctx, case_id, &data, &typed, Some(&msg), 400)),
    };
    let client = data.client.id;
    let agency = typed.agency.trim().to_string();
    let done = ctx.call(move |s| {
        // By number: `consent_add` takes what the command line takes.
        let number = client_by_id(s, client)?.data.number;
        s.consent_add(&number, &agency, &terms, None)
    })?;
    match done {
        Ok(c) => Ok(Response::see_other(format!("/consents/{}", c.id))),
        Err(e) => {
            let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
            let status = match e.family() {
                Family::Alarm | Family::Other | Family::Busy => return Err(ctx.error(&e)),
                f => status_of(f),
            };
            Ok(render_list(ctx, case_id, &data, &typed, Some(&msg), status))
        }
    }
}

fn render_list(
    ctx: &Ctx,
    case_id: i64,
    d: &CaseConsents,
    typed: &Typed,
    error: Option<&str>,
    status: u16,
) -> Response {
    let title = ctx.tr("web.sv_consents_title", &[("id", case_id.to_string())]);
    let body = html! {
        p { (ctx.tr("web.req_for_client", &[("number", d.client.data.number.clone()), ("name", d.client.data.name.clone())])) }
        p { a href=(format!("/cases/{case_id}")) { (ctx.tr("web.sv_back_to_case", &[("id", case_id.to_string())])) } }
        @if d.consents.is_empty() {
            p { (ctx.t("web.sv_no_consents")) }
        } @else {
            table.consents {
                thead { tr {
                    @for k in ["web.sv_h_id", "web.sv_h_agency", "web.sv_h_purposes", "web.sv_h_scope", "web.sv_h_signer", "web.sv_h_valid", "web.sv_h_state", "web.sv_h_actions"] {
                        th { (ctx.t(k)) }
                    }
                } }
                tbody {
                    @for c in &d.consents {
                        tr {
                            td { a href=(format!("/consents/{}", c.id)) { (c.id) } }
                            td { (c.agency_name) }
                            td { (c.terms.purposes.join("；")) }
                            td {
                                (kind_labels(&d.choices, &c.terms.kinds))
                                br;
                                small { (tier_labels(&d.choices, &c.terms.tiers)) }
                                @if c.terms.separate_consent { br; small { (ctx.t("web.sv_separate_given")) } }
                            }
                            td { (c.terms.signer_name) " · " (c.terms.signer_role.label_in(ctx.lang)) }
                            td { (c.terms.signed_on) " – " (c.terms.expires_on) }
                            td { (state(ctx, c)) }
                            td {
                                a href=(format!("/consents/{}", c.id)) { (ctx.t("web.sv_view")) }
                                " · "
                                a href=(format!("/consents/{}/form", c.id)) { (ctx.t("web.sv_print")) }
                            }
                        }
                    }
                }
            }
        }
        @if ctx.me.may(Action::ConsentManage) {
            (add_form(ctx, case_id, &d.choices, typed, error))
        }
    };
    ctx.page_with(status, &title, body)
}

fn add_form(ctx: &Ctx, case_id: i64, ch: &Choices, v: &Typed, error: Option<&str>) -> Markup {
    let signers = [SignerRole::Client, SignerRole::Guardian, SignerRole::Agent];
    html! {
        h2 #new { (ctx.t("web.sv_add_title")) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        form.consent method="post" action=(format!("/cases/{case_id}/consents")) {
            (ctx.csrf_field())
            label { (ctx.t("web.sv_f_agency"))
                select name="agency" required {
                    @for a in &ch.agencies {
                        option value=(a) selected[*a == v.agency] { (a) }
                    }
                }
            }
            @if ch.agencies.is_empty() { p.note { (ctx.t("web.sv_no_agencies")) } }
            fieldset {
                legend { (ctx.t("web.sv_f_signer")) }
                @for r in signers {
                    label.inline {
                        input type="radio" name="signer" value=(r.code()) checked[r.code() == v.signer];
                        (r.label_in(ctx.lang))
                    }
                }
                p.note { (ctx.t("web.sv_minor_note")) }
            }
            label { (ctx.t("web.sv_f_signer_name")) input type="text" name="signer_name" value=(v.signer_name) required; }
            label { (ctx.t("web.sv_f_authority")) input type="text" name="authority" value=(v.authority) required; }
            label { (ctx.t("web.sv_f_purposes")) textarea name="purposes" rows="3" required { (v.purposes) } }
            fieldset {
                legend { (ctx.t("web.sv_f_kinds")) }
                @for (k, l) in &ch.kinds {
                    label.inline { input type="checkbox" name="kinds" value=(k) checked[v.kinds.contains(k)]; (l) }
                }
            }
            fieldset {
                legend { (ctx.t("web.sv_f_tiers")) }
                @for (t, l) in &ch.tiers {
                    label.inline { input type="checkbox" name="tiers" value=(t) checked[v.tiers.contains(&t.to_string())]; (t) " " (l) }
                }
            }
            label.inline { input type="checkbox" name="separate_consent" value="1" checked[v.separate]; (ctx.t("web.sv_f_separate")) }
            label { (ctx.t("web.sv_f_description")) textarea name="description" rows="2" { (v.description) } }
            label { (ctx.t("web.sv_f_revoke_how")) input type="text" name="revoke_how" value=(v.revoke_how) required; }
            label { (ctx.t("web.sv_f_redisclosure")) textarea name="redisclosure" rows="3" required { (v.redisclosure) } }
            label { (ctx.t("web.sv_f_signed")) input type="date" name="signed" value=(v.signed) required; }
            label { (ctx.t("web.sv_f_expires")) input type="date" name="expires" value=(v.expires) required; }
            p.note { (ctx.t("web.sv_scan_note")) }
            button type="submit" { (ctx.t("web.sv_add_button")) }
        }
    }
}

/// One consent with what the form needs around it.
struct One {
    consent: Consent,
    client: Client,
    /// The client's first case (for the link back to the case's consents).
    case_id: Option<i64>,
    choices: Choices,
}

fn load_one(ctx: &Ctx, id: i64) -> std::result::Result<One, Response> {
    ctx.require(Action::ClientRead)?;
    let lang = ctx.lang;
    ctx.run(move |s| {
        let consent = s.consent_show(id)?;
        let client = client_by_id(s, consent.client_id)?;
        let case_id = s
            .case_list(None)?
            .into_iter()
            .find(|c| c.client_id == client.id)
            .map(|c| c.id);
        Ok(One {
            consent,
            client,
            case_id,
            choices: choices(s, lang)?,
        })
    })
}

fn show(ctx: &Ctx, id: i64) -> Page {
    let one = load_one(ctx, id)?;
    Ok(render_show(ctx, &one, None, 200))
}

fn render_show(ctx: &Ctx, o: &One, error: Option<&str>, status: u16) -> Response {
    let c = &o.consent;
    let t = &c.terms;
    let title = ctx.tr("web.sv_consent_title", &[("id", c.id.to_string())]);
    let yes_no = |b: bool| ctx.t(if b { "forms.yes" } else { "forms.no" });
    let rows: Vec<(String, String)> = vec![
        (
            ctx.t("forms.c_client"),
            format!("{} ({})", o.client.data.name, o.client.data.number),
        ),
        (ctx.t("forms.c_agency"), c.agency_name.clone()),
        (
            ctx.t("forms.c_signer"),
            format!("{} · {}", t.signer_name, t.signer_role.label_in(ctx.lang)),
        ),
        (ctx.t("forms.c_authority"), t.authority.clone()),
        (ctx.t("forms.c_purposes"), t.purposes.join("；")),
        (ctx.t("forms.c_kinds"), kind_labels(&o.choices, &t.kinds)),
        (ctx.t("forms.c_tiers"), tier_labels(&o.choices, &t.tiers)),
        (ctx.t("forms.c_description"), t.description.clone()),
        (ctx.t("forms.c_separate"), yes_no(t.separate_consent)),
        (ctx.t("forms.c_revoke_how"), t.revoke_how.clone()),
        (ctx.t("forms.c_redisclosure"), t.redisclosure_notice.clone()),
        (ctx.t("forms.c_signed"), t.signed_on.to_string()),
        (ctx.t("forms.c_expires"), t.expires_on.to_string()),
        (ctx.t("web.sv_h_state"), state(ctx, c)),
        (ctx.t("forms.c_form"), yes_no(c.has_form)),
        (
            ctx.t("forms.c_recorded"),
            format!("{} · {}", format_time(c.created_at), c.created_by),
        ),
    ];
    let body = html! {
        p {
            @if let Some(case) = o.case_id {
                a href=(format!("/cases/{case}/consents")) { (ctx.t("web.sv_back_to_consents")) }
                " · "
            }
            a href=(format!("/consents/{}/form", c.id)) { (ctx.t("web.sv_print")) }
        }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        dl.consent {
            @for (k, v) in &rows {
                @if !v.is_empty() { dt { (k) } dd { (v) } }
            }
            @if let Some(via) = &c.revoked_via { dt { (ctx.t("forms.c_revoked")) } dd { (via) } }
        }
        @if c.revoked_on.is_none() && ctx.me.may(Action::ConsentManage) {
            h2 { (ctx.t("web.sv_revoke_title")) }
            p { (ctx.t("web.sv_revoke_explain")) }
            form method="post" action=(format!("/consents/{}/revoke", c.id)) {
                (ctx.csrf_field())
                label { (ctx.t("web.sv_f_revoked_on")) input type="date" name="on" value=(today().to_string()) required; }
                label { (ctx.t("web.sv_f_via")) input type="text" name="via" required; }
                button type="submit" { (ctx.t("web.sv_revoke_button")) }
            }
        }
    };
    ctx.page_with(status, &title, body)
}

/// Revocation in two steps: the first POST shows what will be recorded and asks to confirm;
/// the second (with `confirm=1`) records it.
fn revoke(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::ConsentManage)?;
    let one = load_one(ctx, id)?;
    let f = |n: &str| {
        ctx.req
            .form(n)
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    let (on_text, via) = (f("on"), f("via"));
    let Some(on) = Date::parse(&on_text) else {
        let msg = ctx.tr("referral.bad_date", &[("value", on_text)]);
        return Ok(render_show(ctx, &one, Some(&msg), 400));
    };
    if f("confirm") != "1" {
        let title = ctx.t("web.sv_revoke_confirm_title");
        let c = &one.consent;
        let body = html! {
            p { (ctx.tr("web.sv_revoke_confirm", &[
                ("id", c.id.to_string()),
                ("client", one.client.data.name.clone()),
                ("agency", c.agency_name.clone()),
                ("date", on.to_string()),
                ("via", via.clone()),
            ])) }
            form method="post" action=(format!("/consents/{}/revoke", c.id)) {
                (ctx.csrf_field())
                input type="hidden" name="on" value=(on.to_string());
                input type="hidden" name="via" value=(via);
                input type="hidden" name="confirm" value="1";
                button type="submit" { (ctx.t("web.sv_revoke_confirm_button")) }
                " "
                a href=(format!("/consents/{}", c.id)) { (ctx.t("web.sv_cancel")) }
            }
        };
        return Ok(ctx.page(&title, body));
    }
    let done = ctx.call(move |s| s.consent_revoke(id, on, &via))?;
    match done {
        Ok(_) => Ok(Response::see_other(format!("/consents/{id}"))),
        Err(e) => match e.family() {
            Family::Usage => {
                let msg = crate::i18n::with_lang(ctx.lang, || e.to_string());
                Ok(render_show(ctx, &one, Some(&msg), 400))
            }
            _ => Err(ctx.error(&e)),
        },
    }
}

/// Both languages of a catalog text: Chinese, and English under it.
fn bi(key: &str) -> Markup {
    html! {
        span.zh { (text_in(Lang::Zh, key, &[])) }
        span.en lang="en" { (text_in(Lang::En, key, &[])) }
    }
}

/// Both languages inline (a label inside a line): Chinese, then English in smaller type.
fn bi_inline(key: &str) -> Markup {
    html! {
        (text_in(Lang::Zh, key, &[])) " " span.en-i lang="en" { (text_in(Lang::En, key, &[])) }
    }
}

/// What the printable form shows, gathered on the session.
struct Printable {
    consent: Consent,
    client: Client,
    discloser: String,
    contact: String,
    minor: bool,
    kinds: Vec<(String, String)>,
    tiers: Vec<(String, String)>,
}

fn form(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::ClientRead)?;
    let p = ctx.run(move |s| {
        let consent = s.consent_show(id)?;
        let client = client_by_id(s, consent.client_id)?;
        let contact = s
            .agency_list()?
            .into_iter()
            .find(|a| a.id == consent.agency_id)
            .map(|a| a.contact)
            .unwrap_or_default();
        let minor = client.is_minor_on(consent.terms.signed_on, s.policy.minor_age);
        let kinds = consent
            .terms
            .kinds
            .iter()
            .map(|k| match s.policy.template(k) {
                Some(t) => (t.label_zh.clone(), t.label_en.clone()),
                None => (k.clone(), k.clone()),
            })
            .collect();
        let tiers = consent
            .terms
            .tiers
            .iter()
            .map(|l| match s.policy.tier(*l) {
                Some(t) => (format!("{l} {}", t.label_zh), format!("{l} {}", t.label_en)),
                None => (l.to_string(), l.to_string()),
            })
            .collect();
        Ok(Printable {
            discloser: s.agency()?,
            consent,
            client,
            contact,
            minor,
            kinds,
            tiers,
        })
    })?;
    let c = &p.consent;
    let t = &c.terms;
    let both = |v: &[(String, String)]| {
        let zh: Vec<&str> = v.iter().map(|(z, _)| z.as_str()).collect();
        let en: Vec<&str> = v.iter().map(|(_, e)| e.as_str()).collect();
        html! { span.zh { (zh.join("、")) } span.en lang="en" { (en.join(", ")) } }
    };
    let signer_role = html! {
        (t.signer_role.label_in(Lang::Zh)) " " span.en-i lang="en" { (t.signer_role.label_in(Lang::En)) }
    };
    let guardian_line = p.minor || t.signer_role == SignerRole::Guardian;
    let sign_line = |key: &str| {
        html! {
            div.sign {
                div.line { (bi(key)) }
                div.line.date { (bi("web.cf_date")) }
            }
        }
    };
    let title = ctx.tr("web.sv_form_title", &[("id", c.id.to_string())]);
    let body = html! {
        p.noprint {
            a href=(format!("/consents/{}", c.id)) { (ctx.t("web.sv_back_to_consent")) }
            " · " (ctx.t("web.sv_print_hint"))
        }
        article.consent-form {
            header.cf-head {
                h2 { (bi("web.cf_title")) }
                p.no { (bi("web.cf_number")) " " strong { (c.id) } }
            }
            @if let Some(d) = c.revoked_on {
                p.error.revoked { (text_in(Lang::Zh, "web.cf_revoked", &[("date", d.to_string())])) " / " (text_in(Lang::En, "web.cf_revoked", &[("date", d.to_string())])) }
            }
            table.cf {
                tr { th { (bi("web.cf_discloser")) } td { (p.discloser) } }
                tr { th { (bi("web.cf_client")) } td { (p.client.data.name) " (" (p.client.data.number) ")"
                    @if let Some(b) = p.client.data.birth_date { br; (bi_inline("web.cf_birth")) "：" (b) } } }
                tr { th { (bi("web.cf_signer")) } td { (t.signer_name) " · " (signer_role) } }
                tr { th { (bi("web.cf_authority")) } td { (t.authority) } }
                tr { th { (bi("web.cf_recipient")) } td { (c.agency_name) @if !p.contact.is_empty() { br; (bi_inline("web.cf_contact")) "：" (p.contact) } } }
                tr { th { (bi("web.cf_purposes")) } td { ul { @for x in &t.purposes { li { (x) } } } } }
                tr { th { (bi("web.cf_scope")) } td {
                    @if !t.description.is_empty() { p.desc { (t.description) } }
                    p { (both(&p.kinds)) }
                    p { (both(&p.tiers)) }
                } }
                tr { th { (bi("web.cf_separate")) } td { (bi(if t.separate_consent { "web.cf_yes" } else { "web.cf_no" })) } }
                tr { th { (bi("web.cf_period")) } td { (t.signed_on) " – " (t.expires_on) } }
            }
            section.rights {
                h3 { (bi("web.cf_rights")) }
                ul {
                    li { (bi("web.cf_right_voluntary")) }
                    li { (bi("web.cf_right_revoke")) p.how { (t.revoke_how) } }
                    li { (bi("web.cf_right_access")) }
                    li { (bi("web.cf_right_scope")) }
                }
                h3 { (bi("web.cf_redisclosure")) }
                p { (t.redisclosure_notice) }
            }
            section.signatures {
                (sign_line("web.cf_sign_client"))
                @if guardian_line {
                    (sign_line("web.cf_sign_guardian"))
                    div.sign { div.line { (bi("web.cf_guardian_relation")) } }
                }
                (sign_line("web.cf_sign_worker"))
            }
        }
    };
    Ok(ctx.page(&title, body))
}

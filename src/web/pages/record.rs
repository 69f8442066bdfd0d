//! Records (issue 13 item 2): a new record from the policy's template for its kind, a
//! record's page (decrypted fields, tier, author, amendment chain) and amendments.
//!
//! Every rule is the library's: `record_add` and `record_amend` check role, case, tier and
//! content (`Policy::validate_content`); `record_show` checks the tier and writes the read
//! notes and, for a supervisor-only record, the log entry, before any content comes back.

use maud::{html, Markup};

use crate::domain::time::format_time;
use crate::domain::RecordMeta;
use crate::error::{Error, Family};
use crate::i18n::{with_lang, Lang};
use crate::policy::{Action, Template, Tier};
use crate::vault::NewRecord;
use crate::web::form::{self, pick, Problems, Values};
use crate::web::http::Response;
use crate::web::layout::{Ctx, Page};

pub fn route(ctx: &Ctx, method: &str, segs: &[&str]) -> Option<Page> {
    let id = |s: &str| s.parse::<i64>().ok().filter(|n| *n > 0);
    match (method, segs) {
        ("GET", ["cases", case, "records", "new"]) => Some(choose(ctx, id(case)?)),
        (m @ ("GET" | "POST"), ["cases", case, "records", "new", kind]) => {
            let case = id(case)?;
            if m == "POST" {
                if let Err(r) = ctx.once() {
                    return Some(Err(r));
                }
            }
            Some(new(ctx, m == "POST", case, kind))
        }
        ("GET", ["records", rec]) => Some(view(ctx, id(rec)?)),
        (m @ ("GET" | "POST"), ["records", rec, "amend"]) => {
            let rec = id(rec)?;
            if m == "POST" {
                if let Err(r) = ctx.once() {
                    return Some(Err(r));
                }
            }
            Some(amend(ctx, m == "POST", rec))
        }
        _ => None,
    }
}

/// What a form needs from the policy: the template and the tiers.
struct Spec {
    template: Template,
    tiers: Vec<Tier>,
}

/// The template of `kind` and the policy's tiers (404 for a kind the policy lacks).
fn spec(ctx: &Ctx, kind: &str) -> Result<Spec, Response> {
    let k = kind.to_string();
    let (template, tiers) =
        ctx.call(move |s| (s.policy.template(&k).cloned(), s.policy.tiers.clone()))?;
    match template {
        Some(template) => Ok(Spec { template, tiers }),
        None => Err(unknown_kind(ctx, kind)),
    }
}

/// 404 for a kind the policy has no template for.
fn unknown_kind(ctx: &Ctx, kind: &str) -> Response {
    ctx.page_with(
        404,
        &ctx.t("web.error_title"),
        html! { p.error role="alert" { (ctx.tr("web.rec_unknown_kind", &[("kind", kind.to_string())])) } },
    )
}

fn kind_label(lang: Lang, t: &Template) -> String {
    pick(lang, &t.label_zh, &t.label_en).to_string()
}

/// `GET /cases/{id}/records/new`: the forms of the policy to choose from.
fn choose(ctx: &Ctx, case: i64) -> Page {
    ctx.require(Action::RecordWrite)?;
    let templates = ctx.run(move |s| {
        s.case_show(case)?;
        Ok(s.policy.templates.values().cloned().collect::<Vec<_>>())
    })?;
    let body = html! {
        p { (ctx.tr("web.rec_choose_intro", &[("case", case.to_string())])) }
        ul.kinds {
            @for t in &templates {
                li {
                    a href=(format!("/cases/{case}/records/new/{}", t.kind)) { (kind_label(ctx.lang, t)) }
                    " · " (ctx.tr("web.rec_default_tier", &[("tier", t.default_tier.to_string())]))
                }
            }
        }
        p { a href=(format!("/cases/{case}")) { (ctx.tr("web.rec_back_case", &[("case", case.to_string())])) } }
    };
    Ok(ctx.page(&ctx.t("web.rec_choose_title"), body))
}

/// The tiers offered: from `floor` up (the template's default, or the amended record's tier),
/// and below the default too for a role the policy lets lower it (as `record add --tier`).
fn tier_select(ctx: &Ctx, spec: &Spec, floor: u8, chosen: u8) -> Markup {
    let may_lower = ctx.me.may(Action::RecordLowerTier);
    html! {
        div.field {
            label for="tier" { (ctx.t("web.rec_tier")) }
            p.help { (ctx.t("web.rec_tier_help")) }
            select id="tier" name="tier" {
                @for t in &spec.tiers {
                    @if t.level >= floor || may_lower {
                        option value=(t.level) selected[t.level == chosen] {
                            (ctx.tr("web.rec_tier_option", &[("level", t.level.to_string()), ("label", pick(ctx.lang, &t.label_zh, &t.label_en).to_string())]))
                            @if t.level == spec.template.default_tier { " " (ctx.t("web.rec_tier_default")) }
                            @if t.supervisor_only { " · " (ctx.t("web.rec_tier_supervisor_only")) }
                        }
                    }
                }
            }
        }
    }
}

/// The form page (new or amendment), with the values and messages of a failed save.
#[allow(clippy::too_many_arguments)]
fn form_page(
    ctx: &Ctx,
    status: u16,
    title: &str,
    intro: Markup,
    spec: &Spec,
    values: &Values,
    problems: &Problems,
    top: Option<&str>,
    tiers: Markup,
    save: &str,
) -> Response {
    let body = html! {
        (intro)
        @if let Some(m) = top {
            div.error role="alert" {
                p { (ctx.t("web.rec_fix")) }
                p { (m) }
            }
        }
        form.record method="post" {
            (ctx.csrf_field())
            (tiers)
            (form::inputs(ctx.lang, &spec.template, values, problems))
            button type="submit" { (save) }
        }
    };
    ctx.page_with(status, title, body)
}

/// The submitted tier: a number, or a usage error the form shows.
fn posted_tier(ctx: &Ctx) -> Result<Option<u8>, String> {
    match ctx.req.form("tier") {
        None => Ok(None),
        Some(t) if t.is_empty() => Ok(None),
        Some(t) => t
            .parse::<u8>()
            .map(Some)
            .map_err(|_| ctx.t("web.rec_bad_tier")),
    }
}

/// The outcome of a save on the session thread: the new record, or the error's family and
/// message with the messages field by field (all in the request's language).
type Saved = Result<RecordMeta, (Family, String, Problems)>;

/// Runs a save (`record_add` or `record_amend`) and, when it fails, asks the library which
/// fields are wrong so the form can show each message beside its field.
fn save(
    ctx: &Ctx,
    kind: String,
    fields: serde_json::Map<String, serde_json::Value>,
    f: impl FnOnce(
            &mut crate::vault::Session,
            serde_json::Map<String, serde_json::Value>,
        ) -> crate::error::Result<RecordMeta>
        + Send
        + 'static,
) -> Result<Saved, Response> {
    ctx.call(move |s| match f(s, fields.clone()) {
        Ok(m) => Ok(m),
        Err(e) => {
            let problems = if e.family() == Family::Usage {
                s.policy
                    .field_problems(&kind, &fields)
                    .into_iter()
                    .map(|(n, e)| (n, e.to_string()))
                    .collect()
            } else {
                Vec::new()
            };
            Err((e.family(), e.to_string(), problems))
        }
    })
}

/// `GET|POST /cases/{id}/records/new/{kind}`.
fn new(ctx: &Ctx, post: bool, case: i64, kind: &str) -> Page {
    ctx.require(Action::RecordWrite)?;
    ctx.run(move |s| s.case_show(case).map(|_| ()))?;
    let spec = spec(ctx, kind)?;
    let label = kind_label(ctx.lang, &spec.template);
    let title = ctx.tr("web.rec_new_title", &[("label", label)]);
    let intro = html! {
        p { a href=(format!("/cases/{case}")) { (ctx.tr("web.rec_back_case", &[("case", case.to_string())])) } }
    };
    let default = spec.template.default_tier;
    if !post {
        let tiers = tier_select(ctx, &spec, default, default);
        let save = ctx.t("web.rec_save");
        return Ok(form_page(
            ctx,
            200,
            &title,
            intro,
            &spec,
            &Values::default(),
            &Vec::new(),
            None,
            tiers,
            &save,
        ));
    }
    let values = form::from_request(ctx.req, &spec.template);
    let (fields, mut problems) = form::to_fields(ctx.lang, &spec.template, &values);
    let tier = posted_tier(ctx);
    let chosen = tier.clone().ok().flatten().unwrap_or(default);
    let again = |ctx: &Ctx, status, problems: &Problems, top: &str| {
        let tiers = tier_select(ctx, &spec, default, chosen);
        form_page(
            ctx,
            status,
            &title,
            intro.clone(),
            &spec,
            &values,
            problems,
            Some(top),
            tiers,
            &ctx.t("web.rec_save"),
        )
    };
    let tier = match tier {
        Ok(t) => t,
        Err(m) => return Err(again(ctx, 400, &problems, &m)),
    };
    if !problems.is_empty() {
        let top = problems[0].1.clone();
        return Err(again(ctx, 400, &problems, &top));
    }
    let new = NewRecord {
        case_id: case,
        kind: spec.template.kind.clone(),
        tier,
        fields: Default::default(),
    };
    match save(ctx, new.kind.clone(), fields, move |s, fields| {
        s.record_add(&NewRecord { fields, ..new })
    })? {
        Ok(m) => Ok(Response::see_other(format!("/records/{}", m.id))),
        Err((Family::Usage, msg, p)) => {
            problems.extend(p);
            Err(again(ctx, 400, &problems, &msg))
        }
        Err((family, msg, _)) => Err(failed(ctx, family, &msg)),
    }
}

/// A failed save that no form change mends (refused, not found…): the library's message.
fn failed(ctx: &Ctx, family: Family, msg: &str) -> Response {
    ctx.page_with(
        crate::web::layout::status_of(family),
        &ctx.t("web.error_title"),
        html! { p.error role="alert" { (msg) } },
    )
}

/// A record read through the library (`record_show`: tier check, read notes, the log entry
/// of a supervisor-only read), with its case's record list for the amendment chain and the
/// policy's template and tiers. A refused read explains itself and shows nothing of it.
#[allow(clippy::type_complexity)]
fn read(
    ctx: &Ctx,
    id: i64,
) -> Result<
    (
        crate::vault::OpenedRecord,
        Vec<RecordMeta>,
        Option<Template>,
        Vec<Tier>,
    ),
    Response,
> {
    let got = ctx.call(move |s| {
        let r = s.record_show(id)?;
        let list = s.record_list(r.meta.case_id).unwrap_or_default();
        let t = s.policy.template(&r.meta.kind).cloned();
        Ok((r, list, t, s.policy.tiers.clone()))
    })?;
    got.map_err(|e: Error| match e {
        Error::SupervisorOnly { .. } => {
            let msg = with_lang(ctx.lang, || e.to_string());
            // Its case (metadata only, nothing decrypted), to offer the way back.
            let case = ctx
                .call(move |s| s.record_meta(id).ok().map(|m| m.case_id))
                .ok()
                .flatten();
            ctx.page_with(
                403,
                &ctx.t("web.refused_title"),
                html! {
                    p.error role="alert" { (msg) }
                    p { (ctx.t("web.rec_refused_explain")) }
                    @if let Some(c) = case {
                        p { a href=(format!("/cases/{c}")) { (ctx.tr("web.rec_back_case", &[("case", c.to_string())])) } }
                    }
                },
            )
        }
        e => ctx.error(&e),
    })
}

/// `GET /records/{id}`.
fn view(ctx: &Ctx, id: i64) -> Page {
    ctx.require(Action::RecordRead)?;
    let (r, list, template, tiers) = read(ctx, id)?;
    let m = &r.meta;
    let kind = template
        .as_ref()
        .map_or_else(|| m.kind.clone(), |t| kind_label(ctx.lang, t));
    let tier = tiers
        .iter()
        .find(|t| t.level == m.tier)
        .map(|t| pick(ctx.lang, &t.label_zh, &t.label_en).to_string())
        .unwrap_or_default();
    let amended_by: Vec<&RecordMeta> = list.iter().filter(|x| x.amends == Some(m.id)).collect();
    let title = ctx.tr(
        "web.rec_title",
        &[("label", kind.clone()), ("id", m.id.to_string())],
    );
    let rec_link = |n: i64| {
        html! { a href=(format!("/records/{n}")) { (ctx.tr("web.rec_record_n", &[("id", n.to_string())])) } }
    };
    let body = html! {
        dl.record-meta {
            dt { (ctx.t("web.rec_h_case")) }
            dd { a href=(format!("/cases/{}", m.case_id)) { (m.case_id) } }
            dt { (ctx.t("web.rec_h_kind")) }
            dd { (kind) }
            dt { (ctx.t("web.rec_tier")) }
            dd { (ctx.tr("web.rec_tier_option", &[("level", m.tier.to_string()), ("label", tier)])) }
            dt { (ctx.t("web.rec_h_author")) }
            dd { (m.author) }
            dt { (ctx.t("web.rec_h_time")) }
            dd { (format_time(m.created_at)) }
            dt { (ctx.t("web.rec_h_signature")) }
            dd { (ctx.t(if r.signature_valid { "web.rec_signature_ok" } else { "web.rec_signature_bad" })) }
            @if let Some(a) = m.amends {
                dt { (ctx.t("web.rec_amends")) }
                dd.amends { (rec_link(a)) }
            }
            @if !amended_by.is_empty() {
                dt { (ctx.t("web.rec_amended_by")) }
                dd.amended-by {
                    @for (i, x) in amended_by.iter().enumerate() {
                        @if i > 0 { "、" }
                        (rec_link(x.id))
                        " (" (x.author) ", " (format_time(x.created_at)) ")"
                    }
                }
            }
        }
        @if r.fields.is_empty() {
            p { (ctx.t("web.rec_no_fields")) }
        } @else {
            (form::show(ctx.lang, template.as_ref(), &r.fields))
        }
        @if !r.attachments.is_empty() {
            p.help { (ctx.tr("web.rec_attachments", &[("count", r.attachments.len().to_string())])) }
            ul { @for a in &r.attachments { li { (a.name) } } }
        }
        p.actions {
            @if ctx.me.may(Action::RecordWrite) {
                a.button href=(format!("/records/{}/amend", m.id)) { (ctx.t("web.rec_amend_link")) }
                " "
            }
            a href=(format!("/cases/{}", m.case_id)) { (ctx.tr("web.rec_back_case", &[("case", m.case_id.to_string())])) }
        }
    };
    Ok(ctx.page(&title, body))
}

/// `GET|POST /records/{id}/amend`: the same form, prefilled with the record's values, saved
/// with `record_amend` (the original stays; the new record names it).
fn amend(ctx: &Ctx, post: bool, id: i64) -> Page {
    ctx.require(Action::RecordWrite)?;
    // Showing the form reads the record (its current values); saving needs only its kind
    // and tier, so a save leaves no second read behind.
    let (shown, kind, floor, tiers) = if post {
        let meta = ctx.run(move |s| s.record_meta(id))?;
        let tiers = ctx.call(|s| s.policy.tiers.clone())?;
        (None, meta.kind, meta.tier, tiers)
    } else {
        let (r, _, _, tiers) = read(ctx, id)?;
        let (kind, tier) = (r.meta.kind.clone(), r.meta.tier);
        (Some(r), kind, tier, tiers)
    };
    let k = kind.clone();
    let Some(template) = ctx.call(move |s| s.policy.template(&k).cloned())? else {
        return Err(unknown_kind(ctx, &kind));
    };
    let spec = Spec { template, tiers };
    let title = ctx.tr("web.rec_amend_title", &[("id", id.to_string())]);
    let intro = html! {
        p { (ctx.t("web.rec_amend_intro")) }
        p { a href=(format!("/records/{id}")) { (ctx.tr("web.rec_record_n", &[("id", id.to_string())])) } }
    };
    let save_label = ctx.t("web.rec_amend_save");
    if let Some(r) = shown {
        let values = form::from_fields(&spec.template, &r.fields);
        let tiers = tier_select(ctx, &spec, floor, floor);
        return Ok(form_page(
            ctx,
            200,
            &title,
            intro,
            &spec,
            &values,
            &Vec::new(),
            None,
            tiers,
            &save_label,
        ));
    }
    let values = form::from_request(ctx.req, &spec.template);
    let (fields, mut problems) = form::to_fields(ctx.lang, &spec.template, &values);
    let tier = posted_tier(ctx);
    let chosen = tier.clone().ok().flatten().unwrap_or(floor);
    let again = |ctx: &Ctx, problems: &Problems, top: &str| {
        let tiers = tier_select(ctx, &spec, floor, chosen);
        form_page(
            ctx,
            400,
            &title,
            intro.clone(),
            &spec,
            &values,
            problems,
            Some(top),
            tiers,
            &save_label,
        )
    };
    let tier = match tier {
        Ok(t) => t,
        Err(m) => return Err(again(ctx, &problems, &m)),
    };
    if !problems.is_empty() {
        let top = problems[0].1.clone();
        return Err(again(ctx, &problems, &top));
    }
    match save(ctx, spec.template.kind.clone(), fields, move |s, fields| {
        s.record_amend(id, fields, tier)
    })? {
        Ok(m) => Ok(Response::see_other(format!("/records/{}", m.id))),
        Err((Family::Usage, msg, p)) => {
            problems.extend(p);
            Err(again(ctx, &problems, &msg))
        }
        Err((family, msg, _)) => Err(failed(ctx, family, &msg)),
    }
}

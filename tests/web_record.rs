//! Record screens of `casevault serve` (issue 13 item 2): forms from the policy's templates,
//! the library's validation shown beside the fields, records read back through the CLI,
//! amendments, the tier-3 refusal and the supervisor's logged read, escaping.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use casevault::i18n::{text_in, Lang};
use casevault::policy::{FieldKind, Policy};
use common::TestVault;
use serde_json::{json, Value};
use web::*;

/// Text as maud writes it into HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn zh(key: &str, args: &[(&str, String)]) -> String {
    text_in(Lang::Zh, key, args)
}

/// The record id a successful save redirects to.
fn saved_id(r: &Resp) -> i64 {
    assert_eq!(r.status, 303, "{}", r.body);
    let loc = r.header("location").unwrap();
    loc.strip_prefix("/records/")
        .unwrap_or_else(|| panic!("location {loc}"))
        .parse()
        .unwrap()
}

fn cli_show(v: &TestVault, who: &str, id: i64) -> Value {
    v.run(who, &["--json", "record", "show", &id.to_string()])
        .ok()
        .json()
}

fn tier3_reads(v: &TestVault) -> Vec<Value> {
    v.run("audit", &["--json", "log", "show", "--kind", "tier3_read"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_kind_of_the_policy_has_its_form_with_all_fields() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let s = serve(&v);
    let c = client(&s, "wang");
    let p = Policy::embedded();

    let choose = c.get(&format!("/cases/{case}/records/new"));
    assert_eq!(choose.status, 200, "{}", choose.body);
    for t in p.templates.values() {
        assert!(
            choose
                .body
                .contains(&format!("href=\"/cases/{case}/records/new/{}\"", t.kind)),
            "{} not offered",
            t.kind
        );
        let r = c.get(&format!("/cases/{case}/records/new/{}", t.kind));
        assert_eq!(r.status, 200, "{}: {}", t.kind, r.body);
        assert!(r.body.contains(&esc(&t.label_zh)), "{}", t.kind);
        for f in &t.fields {
            assert!(r.body.contains(&esc(&f.label_zh)), "{}.{}", t.kind, f.name);
            if f.kind == FieldKind::Table {
                for col in &f.columns {
                    let name = format!("name=\"f.{}.0.{}\"", f.name, col.name);
                    assert!(r.body.contains(&name), "{}: {name}", t.kind);
                }
            } else {
                let name = format!("name=\"f.{}\"", f.name);
                assert!(r.body.contains(&name), "{}: {name}", t.kind);
            }
            for choice in &f.choices {
                assert!(
                    r.body.contains(&format!("value=\"{}\"", esc(choice))),
                    "{}.{} choice {choice}",
                    t.kind,
                    f.name
                );
            }
            if f.kind == FieldKind::Date {
                assert!(r
                    .body
                    .contains(&format!("type=\"date\" id=\"f-{}\"", f.name)));
            }
        }
        let required = t.fields.iter().filter(|f| f.required).count();
        assert_eq!(
            r.body.matches("class=\"req\"").count(),
            required,
            "{}: required marks",
            t.kind
        );
        // The tier defaults to the template's; a caseworker is offered no lower one.
        assert!(
            r.body
                .contains(&format!("value=\"{}\" selected", t.default_tier)),
            "{}",
            t.kind
        );
        for lower in 1..t.default_tier {
            assert!(!r.body.contains(&format!("option value=\"{lower}\"")));
        }
        assert!(r.body.contains("name=\"f.note\""));
    }
    // English on request: labels and choices in English.
    let r = c.get(&format!("/cases/{case}/records/new/process?lang=en"));
    for want in [
        "Process record",
        "Form of service",
        "home visit",
        "Save record",
    ] {
        assert!(r.body.contains(want), "{want}");
    }
    // A kind the policy lacks, and a case wang does not work on.
    assert_eq!(
        c.get(&format!("/cases/{case}/records/new/nonsense")).status,
        404
    );
    v.run(
        "chen",
        &["client", "add", "--number", "C-002", "--name", "韩梅梅"],
    )
    .ok();
    let other = v
        .run("chen", &["--json", "case", "open", "C-002"])
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let r = c.get(&format!("/cases/{other}/records/new/process"));
    assert_eq!(r.status, 403, "{}", r.body);
    // The supervisor may lower a tier: every tier is offered.
    let li = client(&s, "li");
    let r = li.get(&format!("/cases/{case}/records/new/process"));
    assert!(r.body.contains("option value=\"1\""), "{}", r.body);
}

#[test]
fn a_bad_form_comes_back_with_the_library_messages_and_the_values() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let s = serve(&v);
    let c = client(&s, "wang");
    let path = format!("/cases/{case}/records/new/process");
    let r = c.post(
        &path,
        &path,
        &[
            ("tier", "2"),
            ("f.client_number", "C-1<&>\""),
            ("f.date", "2026-02-30"),
            ("f.session_no", "三"),
            ("f.narrative", "第一行 <i>x</i>\r\n第二行"),
            ("f.form", "home_visit"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    // The number that is none is named first; nothing else is checked before it is fixed.
    assert!(
        r.body.contains(&esc(&zh("forms.not_number", &[]))),
        "{}",
        r.body
    );
    // Values kept, escaped.
    assert!(
        r.body.contains("value=\"C-1&lt;&amp;&gt;&quot;\""),
        "{}",
        r.body
    );
    assert!(r
        .body
        .contains("第一行 &lt;i&gt;x&lt;/i&gt;\n第二行</textarea>"));
    assert!(r.body.contains("value=\"home_visit\" selected"));

    // With the number fixed, the library's own messages, each beside its field.
    let r = c.post(
        &path,
        &path,
        &[
            ("f.client_number", "C-1"),
            ("f.date", "2026-02-30"),
            ("f.session_no", "3"),
            ("f.narrative", "叙述"),
        ],
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let tpl = Policy::embedded();
    let aim = tpl
        .template("process")
        .unwrap()
        .field("session_aim")
        .unwrap();
    let missing = zh(
        "policy.content.missing",
        &[
            ("kind", "process".into()),
            ("field", "session_aim".into()),
            ("label", aim.label_zh.clone()),
        ],
    );
    let bad_date = zh(
        "policy.content.bad_date",
        &[("kind", "process".into()), ("field", "date".into())],
    );
    for m in [&missing, &bad_date] {
        assert!(r.body.contains(&esc(m)), "{m} missing: {}", r.body);
    }
    // Beside its field: the message follows the field's input.
    let at_field = r.body.find("name=\"f.session_aim\"").unwrap();
    let msg = r.body.rfind(&esc(&missing)).unwrap();
    assert!(msg > at_field, "the message is beside the field");
    assert!(r.body.contains("value=\"3\""));
    // Nothing was saved.
    let list = v
        .run(
            "wang",
            &["--json", "record", "list", "--case", &case.to_string()],
        )
        .ok()
        .json();
    assert_eq!(list.as_array().unwrap().len(), 0);
    // A tier that is not a number is a form error too, never a 500.
    let r = c.post(&path, &path, &[("tier", "x"), ("f.client_number", "C-1")]);
    assert_eq!(r.status, 400);
    // Lowering the tier is the library's refusal for a caseworker.
    let full = [
        ("f.client_number", "C-1"),
        ("f.date", "2026-11-20"),
        ("f.session_aim", "目标"),
        ("f.narrative", "叙述"),
    ];
    let mut low = full.to_vec();
    low.push(("tier", "1"));
    let r = c.post(&path, &path, &low);
    assert_eq!(r.status, 403, "{}", r.body);
}

#[test]
fn a_record_added_on_the_web_reads_back_the_same_through_the_cli() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let s = serve(&v);
    let c = client(&s, "wang");
    let path = format!("/cases/{case}/records/new/process");
    let r = c.post(
        &path,
        &path,
        &[
            ("tier", "2"),
            ("f.client_number", "C-001"),
            ("f.worker", ""),
            ("f.session_no", "3"),
            ("f.date", "2026-11-20"),
            ("f.form", "home_visit"),
            ("f.session_aim", "了解近况"),
            ("f.narrative", "第一行\r\n第二行"),
            ("f.next_plan", ""),
            ("f.note", "备注一句"),
            ("f.third_party", ""),
        ],
    );
    let id = saved_id(&r);
    let shown = cli_show(&v, "wang", id);
    assert_eq!(shown["kind"], "process");
    assert_eq!(shown["tier"], 2);
    assert_eq!(shown["author"], "wang");
    assert_eq!(shown["case_id"], case);
    assert_eq!(
        shown["fields"],
        json!({
            "client_number": "C-001",
            "session_no": 3,
            "date": "2026-11-20",
            "form": "home_visit",
            "session_aim": "了解近况",
            "narrative": "第一行\n第二行",
            "note": "备注一句"
        })
    );
    // The page shows the fields with their labels, the choice by its label.
    let page = c.get(&format!("/records/{id}"));
    assert_eq!(page.status, 200, "{}", page.body);
    for want in [
        "过程记录表",
        "服务形式",
        "家访",
        "第一行\n第二行",
        "备注一句",
        "wang",
    ] {
        assert!(page.body.contains(want), "{want}: {}", page.body);
    }
    assert!(page.body.contains(&format!("href=\"/records/{id}/amend\"")));

    // A table field: filled rows kept in order, blank rows dropped.
    let path = format!("/cases/{case}/records/new/service_plan");
    let r = c.post(
        &path,
        &path,
        &[
            ("f.client_number", "C-001"),
            ("f.overall_goal", "稳定住房"),
            ("f.sessions.0.session_no", "1"),
            ("f.sessions.0.goal", "建立关系"),
            ("f.sessions.1.session_no", ""),
            ("f.sessions.1.goal", ""),
            ("f.sessions.2.session_no", "2"),
            ("f.sessions.2.goal", "申请补助"),
            ("f.third_party", "true"),
        ],
    );
    let id = saved_id(&r);
    let shown = cli_show(&v, "wang", id);
    assert_eq!(
        shown["fields"]["sessions"],
        json!([{"session_no": 1, "goal": "建立关系"}, {"session_no": 2, "goal": "申请补助"}])
    );
    assert_eq!(shown["fields"]["third_party"], true);
    let page = c.get(&format!("/records/{id}"));
    assert!(page.body.contains("申请补助"));
}

#[test]
fn amendments_keep_the_original_and_link_both_ways() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let first = v.process_note("wang", case, "原来的叙述").ok().json()["id"]
        .as_i64()
        .unwrap();
    let s = serve(&v);
    let c = client(&s, "wang");
    let amend = format!("/records/{first}/amend");
    let form = c.get(&amend);
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains("原来的叙述</textarea>"), "prefilled");
    assert!(form.body.contains("value=\"any\""), "prefilled");
    // No tier below the original's is offered.
    assert!(!form.body.contains("option value=\"1\""));
    let r = c.post(
        &amend,
        &amend,
        &[
            ("tier", "2"),
            ("f.client_number", "any"),
            ("f.date", "2026-11-20"),
            ("f.session_aim", "check in"),
            ("f.narrative", "更正后的叙述"),
        ],
    );
    let second = saved_id(&r);
    let shown = cli_show(&v, "wang", second);
    assert_eq!(shown["amends"], first);
    assert_eq!(shown["fields"]["narrative"], "更正后的叙述");
    assert_eq!(
        cli_show(&v, "wang", first)["fields"]["narrative"],
        "原来的叙述"
    );
    let orig = c.get(&format!("/records/{first}"));
    assert!(
        orig.body.contains(&format!("href=\"/records/{second}\"")),
        "amended by"
    );
    let new = c.get(&format!("/records/{second}"));
    assert!(
        new.body.contains(&format!("href=\"/records/{first}\"")),
        "amends"
    );
    // A bad amendment comes back with the values, the original untouched.
    let r = c.post(
        &amend,
        &amend,
        &[("f.client_number", "any"), ("f.narrative", "半截")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body.contains("半截</textarea>"));
    // An auditor may not write: refused before anything is read.
    let a = client(&s, "audit");
    assert_eq!(a.get(&amend).status, 403);
}

#[test]
fn a_caseworker_is_refused_a_tier3_note_and_a_supervisor_reads_it_with_a_log_entry() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let s = serve(&v);
    let c = client(&s, "wang");
    const CANARY: &str = "CANARY-tier3-5d1e9b";
    let path = format!("/cases/{case}/records/new/supervision");
    let form = c.get(&path);
    assert!(
        form.body.contains("value=\"3\" selected"),
        "tier 3 by default"
    );
    let r = c.post(
        &path,
        &path,
        &[("f.date", "2026-11-20"), ("f.topic", CANARY)],
    );
    let id = saved_id(&r);
    // Writing is allowed; reading it back is not, and nothing of it shows.
    for p in [format!("/records/{id}"), format!("/records/{id}/amend")] {
        let r = c.get(&p);
        assert_eq!(r.status, 403, "{p}: {}", r.body);
        assert!(!r.body.contains(CANARY), "{p}");
        assert!(!r.body.contains("督导主题"), "{p}: no labels of its fields");
        assert!(
            r.body.contains(&esc(&zh(
                "err.supervisor_only",
                &[("record", id.to_string())]
            ))),
            "{}",
            r.body
        );
    }
    assert!(tier3_reads(&v).is_empty(), "a refused read is not a read");
    let r = c.get(&format!("/records/{id}"));
    assert!(
        r.body.contains(&format!("href=\"/cases/{case}\"")),
        "the way back"
    );
    // The supervisor reads it; the library logs the read.
    let li = client(&s, "li");
    let r = li.get(&format!("/records/{id}"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(CANARY));
    let reads = tier3_reads(&v);
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["detail"], format!("record {id}"));
    assert_eq!(reads[0]["actor"], "li");
}

#[test]
fn field_content_is_escaped_on_the_record_page_and_in_the_amend_form() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let id = v.process_note("wang", case, evil).ok().json()["id"]
        .as_i64()
        .unwrap();
    let s = serve(&v);
    let c = client(&s, "wang");
    for p in [format!("/records/{id}"), format!("/records/{id}/amend")] {
        let r = c.get(&p);
        assert_eq!(r.status, 200, "{p}");
        assert!(!r.body.contains("<script>alert"), "{p}");
        assert!(!r.body.contains("<img src=x"), "{p}");
        assert!(r.body.contains(&esc(evil)), "{p}");
    }
}

/// Chromium: a caseworker adds a process note through the form and sees it; a caseworker is
/// refused a tier-3 note; a supervisor reads it. Skipped without chromium (except in CI).
#[test]
fn chromium_record_form_view_and_tier3_refusal() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "李雷");
    const CANARY: &str = "CANARY-browser-8c2f";
    let note = v.supervision_note("wang", case, CANARY).ok().json()["id"]
        .as_i64()
        .unwrap();
    let s = serve(&v);
    let Some(b) = browser::Browser::start(&v.tmp.path().join("chromium-profile")) else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.sign_in(&base, "wang", &TestVault::passphrase("wang"), "我的个案");
    b.goto(&format!("{base}/cases/{case}/records/new/process"));
    b.wait_title("新建过程记录表");
    b.fill("#f-client_number", "C-001");
    // The date input takes its value as the browser's date picker would set it.
    b.script("document.getElementById('f-date').value = '2026-11-20'");
    b.fill("#f-session_no", "2");
    b.fill("#f-session_aim", "了解近况");
    b.fill("#f-narrative", "服务对象谈到搬家的打算");
    let form = b.find("#f-form");
    b.call(
        "POST",
        &format!("/element/{form}/value"),
        Some(json!({"text": "家访"})),
    );
    b.script("window.scrollTo(0, 0)");
    b.screenshots("record-form");
    b.click("form.record button[type=submit]");
    for _ in 0..100 {
        if b.title().starts_with("过程记录表 · 记录") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        b.title().starts_with("过程记录表 · 记录"),
        "{}",
        b.body_text()
    );
    let text = b.body_text();
    assert!(text.contains("服务对象谈到搬家的打算"), "{text}");
    assert!(text.contains("家访"), "{text}");
    b.screenshots("record-view");

    b.goto(&format!("{base}/records/{note}"));
    b.wait_title("已拒绝");
    let text = b.body_text();
    assert!(!text.contains(CANARY));
    assert!(text.contains("仅限督导"), "{text}");
    b.screenshots("record-refused");

    b.click("header form button");
    b.wait_title("登录");
    b.sign_in(&base, "li", &TestVault::passphrase("li"), "我的个案");
    b.goto(&format!("{base}/records/{note}"));
    b.wait_title(&format!("督导记录 · 记录 {note}"));
    assert!(b.body_text().contains(CANARY));
}

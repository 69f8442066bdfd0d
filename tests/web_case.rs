//! The case screens of `casevault serve` (issue 13 item 2): "my cases" with what needs
//! attention, client intake with its duplicate check, and the case page (timeline, stage,
//! workers), through the real binary; one chromium flow from intake to the case page.

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "common/web.rs"]
mod web;

use casevault::domain::time::today;
use common::{Run, TestVault};
use web::*;

/// Adds a record as `who` with `fields` (JSON) and extra args; returns its id.
fn record(
    v: &TestVault,
    who: &str,
    case: i64,
    kind: &str,
    fields: serde_json::Value,
    extra: &[&str],
) -> i64 {
    let case = case.to_string();
    let mut args = vec![
        "--json", "record", "add", "--case", &case, "--kind", kind, "--fields", "-",
    ];
    args.extend_from_slice(extra);
    let r = v.run_stdin(who, &args, &fields.to_string()).ok();
    r.json()["id"].as_i64().unwrap()
}

fn risk(v: &TestVault, case: i64, number: &str, mark: &str, extra: &[&str]) -> i64 {
    let fields = serde_json::json!({
        "client_number": number, "assessment_date": today().to_string(),
        "risk_level": "high", "risk_mark": mark
    });
    record(v, "li", case, "risk_assessment", fields, extra)
}

fn process(v: &TestVault, who: &str, case: i64) -> i64 {
    let fields = serde_json::json!({
        "client_number": "C-001", "date": today().to_string(), "session_aim": "a", "narrative": "n"
    });
    record(v, who, case, "process", fields, &[])
}

/// The "needs attention" section of a cases page.
fn attention(body: &str) -> &str {
    let start = body
        .find("<section class=\"attention\"")
        .expect("attention section");
    let end = body[start..].find("</section>").unwrap() + start;
    &body[start..end]
}

/// Whether the section lists an item of `class` linking to case `case`.
fn has_item(section: &str, class: &str, case: i64) -> bool {
    section.contains(&format!("<li class=\"{class}\"><a href=\"/cases/{case}\">"))
}

fn day(offset: i64) -> String {
    today().add_days(offset).to_string()
}

fn consent(v: &TestVault, client: &str, expires: &str) -> Run {
    v.run(
        "wang",
        &[
            "--json",
            "consent",
            "add",
            "--client",
            client,
            "--agency",
            "Sunrise Youth Center",
            "--signer",
            "client",
            "--signer-name",
            "Zhang San",
            "--purpose",
            "housing",
            "--kinds",
            "process",
            "--tiers",
            "1,2",
            "--revoke-how",
            "call 021-123",
            "--signed",
            &day(0),
            "--expires",
            expires,
        ],
    )
}

#[test]
fn attention_items_appear_when_due_and_not_otherwise() {
    let v = TestVault::new();
    let c1 = v.client_with_case("C-001", "刘洋");
    let c2 = v.client_with_case("C-002", "韩梅梅");
    let c3 = v.client_with_case("C-003", "李雷");
    // An access request received today: due in 15 days (policy), overdue 20 days on.
    v.run(
        "wang",
        &[
            "--json",
            "request",
            "add",
            "--kind",
            "access",
            "--client",
            "C-001",
            "--requester",
            "刘洋",
        ],
    )
    .ok();
    // A consent that runs out in 40 days: "expiring" from 10 days on.
    v.partner("Sunrise Youth Center");
    consent(&v, "C-002", &day(40)).ok();
    // Red on a tier-2 assessment (a supervisor lowered it: the caseworker may read it), red on
    // a tier-3 one (supervisors only), yellow on another.
    risk(&v, c1, "C-001", "red", &["--tier", "2"]);
    risk(&v, c3, "C-003", "red", &[]);
    risk(&v, c2, "C-002", "yellow", &["--tier", "2"]);

    // Twenty days on.
    let later = serve_with(&v, &[("CASEVAULT_NOW", &day(20))]);
    let wang = client(&later, "wang");
    let page = wang.get("/cases");
    assert_eq!(page.status, 200, "{}", page.body);
    let a = attention(&page.body);
    assert!(a.contains("需要关注"));
    assert!(has_item(a, "overdue-request", c1), "{a}");
    assert!(a.contains("查阅请求"), "{a}");
    assert!(has_item(a, "consent-expiring", c2), "{a}");
    assert!(a.contains("Sunrise Youth Center"), "{a}");
    assert!(
        has_item(a, "red-risk", c1),
        "tier-2 red is the caseworker's to see: {a}"
    );
    assert!(
        !has_item(a, "red-risk", c3),
        "tier 3 is never shown to a caseworker: {a}"
    );
    assert!(!has_item(a, "red-risk", c2), "yellow is not red: {a}");
    let li = client(&later, "li");
    let a = li.get("/cases").body;
    let a = attention(&a);
    assert!(
        !has_item(a, "red-risk", c3),
        "a supervisor-only assessment is read only through the record page, which logs the \
         read: it marks nothing here, even for a supervisor: {a}"
    );
    assert!(has_item(a, "overdue-request", c1), "{a}");
    drop((wang, li));
    drop(later);

    // Today: nothing is overdue or expiring; only the risk marks remain.
    let now = serve(&v);
    let wang = client(&now, "wang");
    let body = wang.get("/cases").body;
    let a = attention(&body);
    assert!(!a.contains("overdue-request"), "{a}");
    assert!(!a.contains("consent-expiring"), "{a}");
    assert!(has_item(a, "red-risk", c1), "{a}");
    assert_eq!(a.matches("<li ").count(), 1, "{a}");
}

#[test]
fn cases_are_paged_fifty_at_a_time() {
    let v = TestVault::new();
    // 51 clients and cases through the library (the binary per case would be slow).
    {
        let mut s = v.session("li");
        for i in 1..=51 {
            let c = casevault::domain::NewClient {
                number: format!("P-{i:03}"),
                name: format!("客户{i}"),
                birth_date: None,
                gender: casevault::domain::Gender::Unstated,
                phone: String::new(),
                address: String::new(),
                id_number: String::new(),
                guardians: Vec::new(),
                risk: casevault::domain::Risk::None,
                category: casevault::domain::Category::Basic,
            };
            s.client_add(&c).unwrap();
            s.case_open(&c.number, casevault::domain::Source::SelfReferred, &[])
                .unwrap();
        }
    }
    let s = serve(&v);
    let li = client(&s, "li");
    let one = li.get("/cases");
    assert_eq!(one.status, 200);
    assert!(one.body.contains("P-051"), "newest first");
    assert!(!one.body.contains("P-001<"), "the oldest is on page 2");
    assert!(one.body.contains("href=\"/cases/page/2\""));
    let two = li.get("/cases/page/2");
    assert_eq!(two.status, 200);
    assert!(two.body.contains("P-001"));
    assert!(!two.body.contains("P-051"));
    assert_eq!(li.get("/cases/page/3").status, 404);
    assert_eq!(li.get("/cases/page/0").status, 404);
}

#[test]
fn intake_creates_a_client_and_warns_of_duplicates() {
    let v = TestVault::new();
    v.client_with_case("C-001", "张伟");
    let s = serve(&v);
    let wang = client(&s, "wang");
    let form = wang.get("/clients/new");
    assert_eq!(form.status, 200);
    assert!(form.body.contains("服务对象编号"));
    assert!(
        !form.body.contains("name=\"confirm\""),
        "no confirmation before a check"
    );

    // A new person: saved, a case opened, the case page next.
    let r = wang.post(
        "/clients/new",
        "/clients/new",
        &[
            ("number", "C-010"),
            ("name", "王小明"),
            ("phone", "138 0000 1111"),
            ("open_case", "1"),
            ("source", "referral"),
        ],
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let to = r.header("location").unwrap().to_string();
    assert!(to.starts_with("/cases/"), "{to}");
    let page = wang.get(&to);
    assert_eq!(page.status, 200);
    assert!(page.body.contains("C-010") && page.body.contains("王小明"));
    assert!(page.body.contains("转介"), "source shown");

    // The same name with a space, another number: a possible duplicate, nothing saved.
    let dup = wang.post(
        "/clients/new",
        "/clients/new",
        &[("number", "C-011"), ("name", "张 伟")],
    );
    assert_eq!(dup.status, 200);
    assert!(dup.body.contains("可能重复"), "{}", dup.body);
    assert!(dup.body.contains("C-001"), "the existing client is named");
    assert!(
        dup.body.contains("href=\"/cases/1\""),
        "with a link to its case"
    );
    assert!(dup.body.contains("name=\"confirm\""));
    assert!(dup.body.contains("value=\"C-011\""), "typed values kept");
    v.run("wang", &["client", "show", "C-011"]).fails();
    // The same phone (written differently) is a duplicate too.
    let dup = wang.post(
        "/clients/new",
        "/clients/new",
        &[
            ("number", "C-012"),
            ("name", "赵六"),
            ("phone", "13800001111"),
        ],
    );
    assert!(
        dup.body.contains("可能重复") && dup.body.contains("C-010"),
        "{}",
        dup.body
    );
    // Confirmed: saved.
    let ok = wang.post(
        "/clients/new",
        "/clients/new",
        &[("number", "C-011"), ("name", "张 伟"), ("confirm", "1")],
    );
    assert_eq!(ok.status, 200, "saved without a case: {}", ok.body);
    assert!(ok.body.contains("已登记服务对象 C-011"));
    v.run("wang", &["client", "show", "C-011"]).ok();

    // Another worker's client matches: said, not named.
    let chen = client(&s, "chen");
    let dup = chen.post(
        "/clients/new",
        "/clients/new",
        &[("number", "C-020"), ("name", "王小明")],
    );
    assert!(dup.body.contains("另有 1 位"), "{}", dup.body);
    assert!(
        !dup.body.contains("C-010"),
        "not chen's client: {}",
        dup.body
    );

    // Bad input: 400, the reason, the values typed (escaped).
    let bad = wang.post(
        "/clients/new",
        "/clients/new",
        &[
            ("number", "C-030"),
            ("name", "<b>x</b>"),
            ("birth_date", "2020-13-40"),
        ],
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("2020-13-40") && bad.body.contains("无效"));
    assert!(bad.body.contains("&lt;b&gt;x&lt;/b&gt;") && !bad.body.contains("<b>x"));
    let bad = wang.post(
        "/clients/new",
        "/clients/new",
        &[("number", "C-031"), ("name", " ")],
    );
    assert_eq!(bad.status, 400, "{}", bad.body);
    let taken = wang.post(
        "/clients/new",
        "/clients/new",
        &[("number", "C-010"), ("name", "某人"), ("confirm", "1")],
    );
    assert_ne!(taken.status, 303);
    assert!(taken.body.contains("C-010"));

    // The auditor may not register clients.
    let audit = client(&s, "audit");
    assert_eq!(audit.get("/clients/new").status, 403);
}

#[test]
fn case_page_timeline_stage_and_refusals() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "刘洋");
    let note = process(&v, "wang", case);
    let fields = serde_json::json!({ "date": day(0), "topic": "t" });
    let sup = record(&v, "li", case, "supervision", fields, &[]);
    let fix = {
        let fields = serde_json::json!({
            "client_number": "C-001", "date": day(0), "session_aim": "a", "narrative": "更正"
        });
        let args = [
            "--json",
            "record",
            "amend",
            &note.to_string(),
            "--fields",
            "-",
        ];
        let r = v.run_stdin("wang", &args, &fields.to_string()).ok();
        r.json()["id"].as_i64().unwrap()
    };
    let s = serve(&v);
    let path = format!("/cases/{case}");

    let wang = client(&s, "wang");
    let p = wang.get(&path);
    assert_eq!(p.status, 200, "{}", p.body);
    assert!(p.body.contains("C-001") && p.body.contains("刘洋"));
    assert!(p.body.contains("过程记录表"), "kind label in Chinese");
    assert!(p.body.contains(&format!("href=\"/records/{note}\"")));
    assert!(p.body.contains(&format!("href=\"/records/{fix}\"")));
    assert!(
        p.body.contains(&format!("已由记录 {fix} 更正")),
        "amended-by mark"
    );
    assert!(p.body.contains(&format!("更正记录 {note}")));
    assert!(p.body.contains("督导记录（仅督导可见）"));
    assert!(
        !p.body.contains(&format!("href=\"/records/{sup}\"")),
        "tier-3 row unlinked"
    );
    assert!(p
        .body
        .contains(&format!("href=\"/cases/{case}/records/new/process\"")));
    assert!(p.body.contains(&format!("href=\"/cases/{case}/consents\"")));
    assert!(p.body.contains(&format!("action=\"/cases/{case}/stage\"")));
    assert!(
        !p.body.contains(&format!("action=\"/cases/{case}/close\"")),
        "closing is a supervisor's"
    );
    assert!(!p.body.contains(&format!("action=\"/cases/{case}/assign\"")));

    // The caseworker moves the stage; closing is refused.
    let r = wang.post(&path, &format!("{path}/stage"), &[("stage", "assessment")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(r.header("location"), Some(path.as_str()));
    assert!(wang.get(&path).body.contains("预估"));
    assert_eq!(wang.post(&path, &format!("{path}/close"), &[]).status, 403);
    assert_eq!(
        wang.post(&path, &format!("{path}/stage"), &[("stage", "closed")])
            .status,
        403
    );
    let skip = wang.post(&path, &format!("{path}/stage"), &[("stage", "evaluation")]);
    assert_eq!(skip.status, 400, "stages move one step: {}", skip.body);

    // Not assigned: the library's refusal, explained; a POST too.
    let chen = client(&s, "chen");
    let r = chen.get(&path);
    assert_eq!(r.status, 403);
    assert!(r.body.contains("您未被分配到个案"), "{}", r.body);
    let r = req(
        &s,
        "POST",
        &format!("{path}/stage"),
        &[("Cookie", &chen.cookie)],
        &format!("csrf={}&stage=plan", csrf_of(&chen.get("/cases").body)),
    );
    assert_eq!(r.status, 403);
    // No client.read at all: refused before anything.
    let audit = client(&s, "audit");
    assert_eq!(audit.get(&path).status, 403);

    // The supervisor sees the tier-3 row linked, assigns chen, closes the case.
    let li = client(&s, "li");
    let p = li.get(&path).body;
    assert!(p.contains(&format!("href=\"/records/{sup}\"")));
    assert!(p.contains(&format!("action=\"{path}/close\"")));
    let r = li.post(&path, &format!("{path}/assign"), &[("worker", "chen")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(chen.get(&path).status, 200);
    let r = li.post(&path, &format!("{path}/unassign"), &[("worker", "chen")]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(chen.get(&path).status, 403);
    let r = li.post(&path, &format!("{path}/close"), &[]);
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(li.get(&path).body.contains("结案"));
    assert_eq!(li.get("/cases/999").status, 404);
}

/// Chromium: the intake form through to the new case's page, with screenshots.
#[test]
fn chromium_intake_to_case_page() {
    let v = TestVault::new();
    let s = serve(&v);
    let Some(b) = browser::Browser::start(&v.tmp.path().join("chromium-profile")) else {
        return;
    };
    let base = format!("http://{}", s.addr);
    b.sign_in(&base, "wang", &TestVault::passphrase("wang"), "我的个案");
    b.goto(&format!("{base}/clients/new"));
    b.wait_title("登记服务对象");
    b.fill("input[name=number]", "C-100");
    b.fill("input[name=name]", "陈小红");
    b.fill("input[name=phone]", "139 1234 5678");
    b.screenshots("intake");
    b.click("form.intake button[type=submit]");
    b.wait_title("个案 1");
    assert!(b.body_text().contains("陈小红"));
    b.screenshots("case-page");
    // Back on "my cases", the new case is listed.
    b.goto(&format!("{base}/cases"));
    b.wait_title("我的个案");
    assert!(b.body_text().contains("C-100"));
}

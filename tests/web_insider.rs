//! The web screens against the second attack review (issue 13): an insider's planted release
//! request cannot grow between review and release, a planted or edited consent is never shown
//! as standing, a form is done once (double clicks and replays), and page titles (kept in the
//! browser's history on disk) carry no client data.

mod common;
#[path = "common/web.rs"]
mod web;

use common::TestVault;
use web::*;

/// A date `days` from today, as `date` gives it.
fn day(days: i64) -> String {
    let out = std::process::Command::new("date")
        .args(["-d", &format!("{days} days"), "+%Y-%m-%d"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A client with a case, a process note, partner "Sunrise Youth Center" and a consent for it
/// covering process notes (tiers 1-2). Returns (vault, case, consent id).
fn setup() -> (TestVault, i64, i64) {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "刘洋");
    v.process_note("wang", case, "first note").ok();
    v.partner("Sunrise Youth Center");
    let consent = v
        .run(
            "wang",
            &[
                "--json",
                "consent",
                "add",
                "--client",
                "C-001",
                "--agency",
                "Sunrise Youth Center",
                "--signer",
                "client",
                "--signer-name",
                "Liu Yang",
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
                &day(365),
            ],
        )
        .ok()
        .json()["id"]
        .as_i64()
        .expect("consent id");
    (v, case, consent)
}

/// The value of the hidden field `name` in a page.
fn hidden(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + key.len();
    page[i..].split('"').next().unwrap().to_string()
}

#[test]
fn a_planted_release_request_cannot_grow_between_review_and_release() {
    let (v, case, consent) = setup();
    // The insider plants a request for "everything the consent covers" (an empty list).
    let text = serde_json::json!({
        "case_id": case, "agency": "Sunrise Youth Center", "consent_id": consent,
        "records": [], "purpose": "housing", "request_id": null, "notice_for": null
    });
    let db = v.insider_db("wang");
    db.execute(
        "INSERT INTO referral_releases (case_id, request, requested_by, requested_at)
         VALUES (?1, ?2, 'wang', 0)",
        rusqlite::params![case, text.to_string()],
    )
    .unwrap();
    let id = db.last_insert_rowid();
    drop(db);
    let s = serve(&v);
    let li = client(&s, "li");
    let page = li.get(&format!("/referrals/{id}/release"));
    assert_eq!(page.status, 200, "{}", page.body);
    // A second note is written after the supervisor's review.
    v.process_note("wang", case, "written after the review")
        .ok();
    let body = format!(
        "csrf={}&once={}&digest={}",
        csrf_of(&page.body),
        once_of(&page.body),
        hidden(&page.body, "digest")
    );
    let r = req(
        &s,
        "POST",
        &format!("/referrals/{id}/release"),
        &[("Cookie", &li.cookie)],
        &body,
    );
    assert!(
        r.status != 200 && r.status != 303,
        "released what was not reviewed: {} {}",
        r.status,
        r.body
    );
    let log = v
        .run(
            "li",
            &["--json", "log", "show", "--kind", "referral_export"],
        )
        .ok()
        .json();
    assert!(log.as_array().unwrap().is_empty(), "{log}");
}

#[test]
fn an_edited_consent_is_a_tamper_alarm_not_a_standing_consent() {
    let (v, case, consent) = setup();
    let db = v.insider_db("wang");
    let n = db
        .execute(
            "UPDATE consents SET data = replace(data, 'housing', 'anything at all') WHERE id = ?1",
            [consent],
        )
        .unwrap();
    assert_eq!(n, 1);
    drop(db);
    let s = serve(&v);
    let wang = client(&s, "wang");
    for path in [
        format!("/cases/{case}/consents"),
        format!("/consents/{consent}"),
        format!("/consents/{consent}/form"),
        format!("/cases/{case}/referral"),
    ] {
        let r = wang.get(&path);
        assert_ne!(r.status, 200, "{path} shows an edited consent: {}", r.body);
        assert!(!r.body.contains("anything at all"), "{path}: {}", r.body);
    }
}

#[test]
fn a_form_is_done_once_and_titles_carry_no_client_data() {
    let v = TestVault::new();
    let s = serve(&v);
    let wang = client(&s, "wang");
    let form = wang.get("/clients/new");
    let body = format!(
        "csrf={}&once={}&number=C-077&name={}&open_case=1&source=referral",
        csrf_of(&form.body),
        once_of(&form.body),
        enc("欧阳娜娜")
    );
    let send = || {
        req(
            &s,
            "POST",
            "/clients/new",
            &[("Cookie", &wang.cookie)],
            &body,
        )
    };
    let first = send();
    assert_eq!(first.status, 303, "{}", first.body);
    let again = send();
    assert_eq!(again.status, 409, "{}", again.body);
    assert!(again.body.contains("已经提交过"), "{}", again.body);
    let clients = v.run("wang", &["--json", "client", "list"]).ok().json();
    assert_eq!(clients.as_array().unwrap().len(), 1, "{clients}");
    // Without a one-time token nothing is done either.
    let bare = format!("csrf={}&number=C-078&name=x", csrf_of(&form.body));
    let r = req(
        &s,
        "POST",
        "/clients/new",
        &[("Cookie", &wang.cookie)],
        &bare,
    );
    assert_eq!(r.status, 409);
    // The case page's title (kept in the browser's history) names the case, not the client.
    let case = first.header("location").unwrap().to_string();
    let page = wang.get(&case);
    assert_eq!(page.status, 200);
    let title = page
        .body
        .split("<title>")
        .nth(1)
        .unwrap()
        .split("</title>")
        .next()
        .unwrap();
    assert!(
        !title.contains("欧阳娜娜") && !title.contains("C-077"),
        "{title}"
    );
    assert!(
        page.body.contains("欧阳娜娜"),
        "the page itself shows the client"
    );
}

#[test]
fn an_enormous_page_number_is_not_found_and_the_session_lives() {
    let v = TestVault::new();
    v.client_with_case("C-001", "刘洋");
    let s = serve(&v);
    let li = client(&s, "li");
    for path in [
        "/cases/page/18446744073709551615",
        "/log/entries/page/9223372036854775807",
        "/cases/page/1000001",
    ] {
        assert_eq!(li.get(path).status, 404, "{path}");
    }
    assert_eq!(li.get("/cases").status, 200, "the session survived");
}

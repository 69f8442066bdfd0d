//! Issue 12, item 5: the agency's clock. "Today" is judged in the policy's time zone (default
//! Asia/Shanghai: at 23:30 UTC it is already tomorrow there), times are shown local with their
//! offset, and the zone is checked when the policy loads.

mod common;

use casevault::domain::time::Date;
use casevault::policy::Policy;
use common::*;

/// Day number (since 1970-01-01) of a day safely after every entry the setup logs with the
/// real clock (the log's times only go forward).
fn future_day() -> i64 {
    let real = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    real / 86_400 + 30
}

fn run_at(v: &TestVault, who: &str, time: i64, args: &[&str]) -> Run {
    let mut c = v.as_(who);
    c.env("CASEVAULT_NOW", time.to_string()).args(args);
    run(c)
}

fn consent(signed: &str, expires: &str) -> Vec<String> {
    CONSENT_C001_PARTNER
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .into_iter()
        .map(|a| match a.as_str() {
            "2025-01-01" => signed.to_string(),
            "2099-12-31" => expires.to_string(),
            _ => a,
        })
        .collect()
}

#[test]
fn today_is_the_agencys_date() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    v.process_note("wang", case, "first session").ok();
    v.partner("Partner");
    let day = future_day();
    let d = Date::from_days(day).to_string();
    let next = Date::from_days(day + 1).to_string();
    let utc = |h: i64, m: i64| day * 86_400 + h * 3600 + m * 60;

    // A consent that expires on day d, entered at 09:00 Shanghai.
    let args = consent("2025-01-01", &d);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let id = run_at(&v, "wang", utc(1, 0), &args).ok().json()["id"]
        .as_i64()
        .unwrap()
        .to_string();
    let export = |time: i64, out: &str| {
        let out = v.tmp.path().join(out);
        run_at(
            &v,
            "li",
            time,
            &[
                "--json",
                "referral",
                "export",
                "--case",
                &case.to_string(),
                "--to",
                "Partner",
                "--consent",
                &id,
                "--purpose",
                "housing support",
                "--out",
                out.to_str().unwrap(),
            ],
        )
    };
    // 15:00 UTC is 23:00 in Shanghai, still day d: the consent is in force.
    export(utc(15, 0), "evening.age").ok();
    // 23:30 UTC is 07:30 the next day in Shanghai: the consent has expired.
    let r = export(utc(23, 30), "late.age");
    assert_eq!(r.code, 6, "{}\n{}", r.stderr, r.stdout);
    assert!(r.stderr.contains("consent_refused"), "{}", r.stderr);
    // And a consent signed "tomorrow" by UTC is signed today in Shanghai.
    let args = consent(&next, "2099-12-31");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_at(&v, "wang", utc(23, 30), &args).ok();
}

#[test]
fn times_are_shown_local_with_their_offset() {
    let v = TestVault::new();
    let case = v.client_with_case("C001", "Zhang San");
    let r = v.run("wang", &["case", "show", &case.to_string()]).ok();
    assert!(r.stdout.contains(" +08:00"), "{}", r.stdout);
    assert!(!r.stdout.contains(":00Z"), "{}", r.stdout);
    // JSON keeps what scripts read (Unix seconds).
    let j = v
        .run("wang", &["--json", "case", "show", &case.to_string()])
        .ok()
        .json();
    assert!(j.to_string().contains("opened_at"), "{j}");
}

#[test]
fn the_policy_names_a_valid_time_zone() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |zone: Option<&str>| {
        let dir = tmp.path().join(zone.unwrap_or("none").replace('/', "_"));
        for (name, text) in Policy::embedded_sources() {
            let p = dir.join(&name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            let text = match (name.as_str(), zone) {
                ("policy.toml", Some(z)) => format!("time_zone = \"{z}\"\n{text}"),
                _ => text,
            };
            std::fs::write(p, text).unwrap();
        }
        dir
    };
    let check = |zone: Option<&str>| {
        let mut c = cmd(&tmp.path().join("vault"));
        c.args(["policy", "check"]).arg(write(zone));
        run(c)
    };
    // Policies written before the setting existed still load (default Asia/Shanghai).
    check(None).ok();
    check(Some("UTC")).ok();
    check(Some("Asia/Shanghai")).ok();
    let r = check(Some("Mars/Olympus")).fails();
    assert!(r.stderr.contains("Mars/Olympus"), "{}", r.stderr);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let p = Policy::from_sources(&Policy::embedded_sources()).unwrap();
    assert_eq!(p.time_zone, "Asia/Shanghai");
    // Changing it moves where every day ends: a lowering that needs a co-signature.
    let mut sources = Policy::embedded_sources();
    for (name, text) in &mut sources {
        if name == "policy.toml" {
            *text = format!("time_zone = \"UTC\"\n{text}");
        }
    }
    let utc = Policy::from_sources(&sources).unwrap();
    let changes = casevault::policy::diff::diff(&p, &utc);
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(changes[0].lowers());
    assert_eq!(changes[0].short(), "lower time_zone Asia/Shanghai->UTC");
    assert!(casevault::policy::diff::is_lowering_item(
        &changes[0].short()
    ));
}

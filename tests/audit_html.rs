//! The HTML audit report is one self-contained file a non-technical supervisor can read:
//! rendered in headless Chromium, the screenshot is not blank and the key figures are on the
//! page. Skips (loudly) only when Chromium is missing and `CI` is unset.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use casevault::log::{Kind, LegalBasis};
use casevault::store;
use casevault::vault::Session;
use common::*;

fn chromium() -> Option<PathBuf> {
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(name).output() {
            let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if out.status.success() && !p.is_empty() {
                return Some(PathBuf::from(p));
            }
        }
    }
    None
}

fn headless(bin: &Path, profile: &Path) -> Command {
    let mut c = Command::new(bin);
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .env("HOME", profile);
    c
}

/// Distinct RGBA pixel values in a PNG (capped).
fn distinct_colours(png_path: &Path) -> usize {
    let decoder = png::Decoder::new(std::fs::File::open(png_path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let bpp = info.line_size / info.width as usize;
    let mut seen = std::collections::HashSet::new();
    for px in buf[..info.buffer_size()].chunks(bpp) {
        seen.insert(px.to_vec());
        if seen.len() > 1000 {
            break;
        }
    }
    seen.len()
}

/// Appends a referral-export log entry by wang at `date` (test clock) to `recipient`.
fn disclose(s: &Session, case: i64, recipient: &str, basis: LegalBasis) {
    let mut e = s.log_entry(Kind::ReferralExport, Some(case)).unwrap();
    e.recipient = recipient.into();
    e.purpose = "housing".into();
    e.basis = basis;
    let tx = store::immediate(&s.conn).unwrap();
    s.log_append(&tx, &e).unwrap();
    tx.commit().unwrap();
}

#[test]
fn html_report_renders_in_headless_chromium() {
    let v = TestVault::new();
    let case = v.client_with_case("C-001", "Zhang San");
    v.process_note("wang", case, "a secret narrative").ok();
    // A partner and the client's consent covering 2027 (consent 1).
    v.partner("Sunrise Youth Center");
    let mut c = v.as_("wang");
    c.env("CASEVAULT_NOW", "2026-12-02").args([
        "consent",
        "add",
        "--client",
        "C-001",
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
        "2026-12-01",
        "--expires",
        "2027-12-31",
    ]);
    run(c).ok();
    // Disclosures over three months to two recipients; one without a legal basis.
    std::env::set_var("CASEVAULT_TEST_MODE", "1");
    {
        let s = v.session("wang");
        for (date, to, basis) in [
            (
                "2027-01-10",
                "Sunrise Youth Center",
                LegalBasis::Consent("1".into()),
            ),
            (
                "2027-02-03",
                "Sunrise Youth Center",
                LegalBasis::Consent("1".into()),
            ),
            (
                "2027-02-20",
                "City Hospital Social Work Dept",
                LegalBasis::None,
            ),
            (
                "2027-03-02",
                "Sunrise Youth Center",
                LegalBasis::Consent("1".into()),
            ),
        ] {
            std::env::set_var("CASEVAULT_NOW", date);
            disclose(&s, case, to, basis);
        }
    }
    std::fs::write(v.dir.join("export.csv"), "number,name\n").unwrap();

    let report = v.tmp.path().join("report.html");
    let mut c = v.as_("audit");
    c.env("CASEVAULT_NOW", "2027-03-20")
        .args(["audit", "run", "--format", "html", "--out"])
        .arg(&report);
    let r = run(c);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let html = std::fs::read_to_string(&report).unwrap();

    // Self-contained: no script, no external resource, nothing fetched.
    let lower = html.to_ascii_lowercase();
    for bad in ["<script", " src=", " href=", "@import", "url("] {
        assert!(!lower.contains(bad), "the report must not contain {bad}");
    }
    let without_ns = lower.replace("http://www.w3.org/2000/svg", "");
    assert!(!without_ns.contains("http://") && !without_ns.contains("https://"));
    assert!(!html.contains("a secret narrative") && !html.contains("Zhang San"));
    // Summary before findings before charts.
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} missing"));
    assert!(at("id=\"summary\"") < at("id=\"findings\""));
    assert!(at("id=\"findings\"") < at("id=\"charts\""));

    let Some(bin) = chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is required in CI (Debian package `chromium`)");
        }
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!! SKIPPING the Chromium rendering check: chromium is not installed.       !!!\n\
             !!! Install the Debian package `chromium` to run it (CI always does).       !!!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
        return;
    };
    let profile = tempfile::tempdir().unwrap();
    let url = format!("file://{}", report.display());

    let png_path = v.tmp.path().join("report.png");
    let out = headless(&bin, profile.path())
        .arg(format!("--screenshot={}", png_path.display()))
        .arg("--window-size=1200,1600")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        png_path.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let colours = distinct_colours(&png_path);
    assert!(
        colours > 8,
        "the screenshot looks blank ({colours} colours)"
    );

    let out = headless(&bin, profile.path())
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    for want in [
        "Confidentiality audit: Test Agency",
        "Disclosures per month",
        "Disclosures per recipient",
        "2027-01",
        "2027-02",
        "2027-03",
        "Sunrise Youth Center",
        "City Hospital Social Work Dept",
        "disclosures.no_basis",
        "files.unexpected",
        "export.csv",
    ] {
        assert!(dom.contains(want), "{want} not on the rendered page");
    }
    // Key figures: 4 disclosures, 2 findings (1 critical, 1 high), 1 client.
    let card = |n: u64, label: &str| {
        dom.contains(&format!(
            "<div class=\"n\">{n}</div><div class=\"l\">{label}</div>"
        ))
    };
    assert!(card(4, "Disclosures"), "disclosure count not on the page");
    assert!(card(1, "Clients"));
    assert!(dom.contains("2 findings; the most serious is critical"));
}

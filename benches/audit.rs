//! Speed of `audit run` on a large vault: 10,000 clients (one case each), 100,000 records,
//! 50,000 disclosure-log entries (target: under 5 s for the whole audit).
//!
//! The vault is built once through the library (real init, staff and log appends; clients,
//! cases, keys and records inserted in bulk with placeholder ciphertext, which the audit never
//! opens) and cached under `$CARGO_TARGET_DIR/audit-bench-vault/`. Then the audit runs as the
//! auditor a few times; each run's total and per-check times are printed, and the three
//! report formats are rendered.
//!
//! `cargo bench --bench audit` (sizes: `CASEVAULT_BENCH_CLIENTS`, `_RECORDS`, `_LOG`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use casevault::audit::{self, report::Format};
use casevault::log::{Kind, LegalBasis, NewEntry};
use casevault::policy::{Policy, Role};
use casevault::store;
use casevault::vault::{disclosure, init, InitOptions, Session, VaultDir};
use rusqlite::params;
use secrecy::SecretString;

const WORKERS: usize = 20;
const RECIPIENTS: [&str; 8] = [
    "阳光青少年服务中心",
    "市第一人民医院社工部",
    "Sunrise Youth Center",
    "街道妇联",
    "区残联",
    "市救助管理站",
    "City Hospital Social Work Dept",
    "社区卫生服务中心",
];

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pass(name: &str) -> SecretString {
    SecretString::from(format!("{name} pw: velvet harbour lantern"))
}

fn build(dir: &Path, clients: usize, records: usize, log: usize) {
    let t = Instant::now();
    eprintln!("building the bench vault in {} (once) ...", dir.display());
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    let vd = VaultDir::new(dir.join("vault"));
    init(
        &vd,
        InitOptions {
            agency: "Bench Agency".into(),
            admin: "admin".into(),
            admin_passphrase: pass("admin"),
            policy_sources: Policy::embedded_sources(),
            recovery_out: dir.join("recovery.txt"),
            recovery_shares: casevault::vault::recovery::ShareSpec::SINGLE,
        },
    )
    .unwrap();
    let mut s = Session::open(&vd, "admin", &pass("admin")).unwrap();
    let mut staff = vec![
        ("li".to_string(), Role::Supervisor),
        ("audit".to_string(), Role::Auditor),
    ];
    staff.extend((0..WORKERS).map(|i| (format!("worker{i:02}"), Role::Caseworker)));
    for (name, role) in &staff {
        // Enrolment as people do it: invite, the member's own keys, approval.
        let inv = s.staff_invite(name, *role).unwrap();
        let e = casevault::vault::enrol(&s.dir.clone(), &inv.token(), &pass(name)).unwrap();
        s.staff_approve(name, &e.fingerprint).unwrap();
    }
    let base: i64 = 1_735_689_600; // 2025-01-01
    let tx = store::immediate(&s.conn).unwrap();
    {
        let mut ins_client = tx
            .prepare(
                "INSERT INTO clients(id, number, name, birth_date, gender, phone, address, id_number,
                   guardians, risk, category, created_at, created_by)
                 VALUES (?1, ?2, ?3, '1990-01-01', 'female', '', '', '', '[]', 'none', 'basic', ?4, 'worker00')",
            )
            .unwrap();
        let mut ins_case = tx
            .prepare(
                "INSERT INTO cases(id, client_id, source, stage, opened_at, opened_by, closed_at)
                 VALUES (?1, ?1, 'self', ?2, ?3, 'worker00', ?4)",
            )
            .unwrap();
        let mut ins_assign = tx
            .prepare("INSERT INTO assignments(case_id, staff, assigned_at) VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut ins_key = tx
            .prepare(
                "INSERT INTO case_keys(case_id, epoch, tier, recipient, created_at)
                 VALUES (?1, 1, ?2, ?3, ?4)",
            )
            .unwrap();
        let mut ins_wrap = tx
            .prepare(
                "INSERT INTO key_wraps(case_id, epoch, holder, tiers, wrapped)
                 VALUES (?1, 1, ?2, ?3, ?4)",
            )
            .unwrap();
        let wrapped = vec![0xA5u8; 400];
        for c in 1..=clients as i64 {
            let at = base + c * 60;
            let closed = (c % 5 == 0).then_some(at + 86_400 * 90);
            ins_client
                .execute(params![c, format!("C-{c:06}"), format!("client {c}"), at])
                .unwrap();
            let stage = if closed.is_some() { "closed" } else { "plan" };
            ins_case.execute(params![c, stage, at, closed]).unwrap();
            let w = format!("worker{:02}", c as usize % WORKERS);
            ins_assign.execute(params![c, w, at]).unwrap();
            for tier in 1..=3 {
                ins_key
                    .execute(params![c, tier, format!("age1placeholder{c}x{tier}"), at])
                    .unwrap();
            }
            for (holder, tiers) in [("@recovery", "1,2,3"), ("li", "1,2,3"), (w.as_str(), "1,2")] {
                ins_wrap
                    .execute(params![c, holder, tiers, wrapped])
                    .unwrap();
            }
        }
        let kinds = [
            "intake",
            "process",
            "service_plan",
            "evaluation",
            "supervision",
        ];
        let body = vec![0x5Au8; 1024];
        let sig = vec![0u8; 64];
        let mut ins_rec = tx
            .prepare(
                "INSERT INTO records(id, case_id, kind, tier, epoch, author, created_at, amends, body, signature)
                 VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, NULL, ?7, ?8)",
            )
            .unwrap();
        let mut ins_read = tx
            .prepare(
                "INSERT INTO record_reads(at, staff, record_id, case_id, assigned)
                 VALUES (?1, ?2, ?3, ?4, 1)",
            )
            .unwrap();
        for r in 1..=records as i64 {
            let case = (r - 1) % clients as i64 + 1;
            let kind = kinds[r as usize % kinds.len()];
            let tier = if kind == "supervision" { 3 } else { 2 };
            let w = format!("worker{:02}", case as usize % WORKERS);
            let at = base + r * 30;
            ins_rec
                .execute(params![r, case, kind, tier, w, at, body, sig])
                .unwrap();
            if r % 2 == 0 {
                ins_read.execute(params![at + 10, w, r, case]).unwrap();
            }
        }
    }
    // Disclosures signed by the admin (the log only needs a registered signer), spread over
    // two years and eight recipients.
    let have: i64 = tx
        .query_row("SELECT count(*) FROM log_entries", [], |r| r.get(0))
        .unwrap();
    let span = 2 * 365 * 86_400_i64;
    for i in 0..log.saturating_sub(have as usize) {
        let mut e = NewEntry::new(Kind::ReferralExport, "admin");
        e.recipient = RECIPIENTS[i % RECIPIENTS.len()].into();
        e.purpose = "housing support".into();
        e.basis = LegalBasis::Consent(format!("{}", i % 5000 + 1));
        e.client_mac = Some(disclosure::id_mac(&tx, "client", (i % clients) as i64 + 1).unwrap());
        e.detail = format!("referral R-{i}");
        let at = base + 400 * 86_400 + (i as i64 * span) / log as i64;
        disclosure::append_as(&tx, &e, &s.me.signing, at).unwrap();
    }
    tx.commit().unwrap();
    drop(s);
    std::fs::write(dir.join("READY"), format!("{clients} {records} {log}\n")).unwrap();
    eprintln!("built in {:.1} s", t.elapsed().as_secs_f64());
}

fn main() {
    // Cheap KDF for the bench identities (refused outside test mode).
    std::env::set_var("CASEVAULT_TEST_MODE", "1");
    std::env::set_var("CASEVAULT_SCRYPT_LOG_N", "2");
    let clients = size("CASEVAULT_BENCH_CLIENTS", 10_000);
    let records = size("CASEVAULT_BENCH_RECORDS", 100_000);
    let log = size("CASEVAULT_BENCH_LOG", 50_000);
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join(format!("audit-bench-vault-{clients}-{records}-{log}"));
    if !dir.join("READY").exists() {
        // Staff entries first (2025-01-01), then disclosures in order from 2026-02.
        std::env::set_var("CASEVAULT_NOW", "2025-01-01");
        build(&dir, clients, records, log);
    }
    std::env::set_var("CASEVAULT_NOW", "2027-06-01");
    let vd = VaultDir::new(dir.join("vault"));
    let runs = size("CASEVAULT_BENCH_RUNS", 5);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let s = Session::open(&vd, "audit", &pass("audit")).unwrap();
        let open = t.elapsed();
        let r = audit::run(&s, &audit::Options::default()).unwrap();
        let total = t.elapsed();
        times.push(total.as_secs_f64());
        eprintln!(
            "audit run: {:.3} s (session open {:.3} s), {} findings",
            total.as_secs_f64(),
            open.as_secs_f64(),
            r.findings.len()
        );
        last = Some(r);
    }
    let r = last.unwrap();
    for c in &r.checks {
        eprintln!("  {:<12} {:>6} ms  {:?}", c.id, c.millis, c.state);
    }
    for f in [Format::Md, Format::Json, Format::Html] {
        let t = Instant::now();
        let text = audit::report::render(&r, f);
        eprintln!(
            "  render {:?}: {:.1} ms, {} bytes",
            f,
            t.elapsed().as_secs_f64() * 1e3,
            text.len()
        );
    }
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median = times[times.len() / 2];
    println!(
        "audit: {clients} clients, {records} records, {log} log entries: median {median:.3} s, \
         min {:.3} s over {runs} runs (target < 5 s){}",
        times[0],
        if median < 5.0 {
            ""
        } else {
            "  ** OVER TARGET **"
        }
    );
    println!(
        "figures: {} clients, {} cases, {} records, {} log entries, {} disclosures, {} findings",
        r.figures.clients,
        r.figures.cases,
        r.figures.records,
        r.figures.log_entries,
        r.figures.disclosures,
        r.findings.len()
    );
}

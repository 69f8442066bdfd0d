//! `casevault demo`: builds a demo vault with fictional clients in a temporary directory and
//! walks a caseworker, a supervisor and an admin through the main flow, printing each step.
//! Nothing here is special-cased: every step is the same library call the commands make.

use std::path::PathBuf;

use clap::Args;
use secrecy::SecretString;
use serde_json::json;

use super::Context;
use crate::crypto::hex;
use crate::error::{Error, Result};
use crate::policy::{Policy, Role};
use crate::tr;
use crate::vault::{self, InitOptions, NewRecord, Session, VaultDir};

/// The demo's fictional clients, cases and records (JSON Lines, as `casevault import` reads).
const DATA: &str = include_str!("demo_data.jsonl");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Keep the demo vault in this (new) directory instead of deleting it at the end.
    #[arg(long)]
    pub keep: Option<PathBuf>,
}

/// The demo's passphrases are printed for anyone to try the kept vault, so they guard
/// nothing; they still pass the strength check that every new passphrase must pass.
fn pass(name: &str) -> SecretString {
    SecretString::from(format!("demo-{name}-{DEMO_PASS_TAIL}"))
}

/// What follows `demo-<name>-` in every demo passphrase.
const DEMO_PASS_TAIL: &str = "纸灯笼照河岸";

fn fields(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        _ => unreachable!("demo fields are objects"),
    }
}

pub fn run(ctx: &mut Context, a: DemoArgs) -> Result<()> {
    // The demo is throwaway: use the lowest passphrase cost allowed outside tests.
    if std::env::var("CASEVAULT_SCRYPT_LOG_N").is_err() {
        std::env::set_var(
            "CASEVAULT_SCRYPT_LOG_N",
            crate::crypto::KDF_FLOOR_LOG_N.to_string(),
        );
    }
    let tmp;
    let root = match &a.keep {
        Some(p) => p.clone(),
        None => {
            tmp = TempDir::new()?;
            tmp.0.clone()
        }
    };
    let dir = VaultDir::new(root.join("vault"));
    // A throwaway vault's remembered log state goes with it; a kept one is remembered by
    // this installation like any other vault.
    let state = match &a.keep {
        Some(_) => crate::vault::remember::StateDir::from_env()?,
        None => crate::vault::remember::StateDir::new(root.join("state")),
    };
    let mut steps = Vec::new();
    let mut say = |line: String| {
        if !ctx.json {
            super::out::line(&line);
        }
        steps.push(line);
    };

    say(tr!("demo.step_init", dir = dir.root.display()));
    vault::init(
        &dir,
        InitOptions {
            agency: tr!("demo.agency"),
            admin: "admin".into(),
            admin_passphrase: pass("admin"),
            policy_sources: Policy::embedded_sources(),
            recovery_out: root.join("recovery-key.txt"),
            recovery_shares: vault::recovery::ShareSpec::SINGLE,
        },
    )?;
    let mut admin = Session::open_in(&dir, "admin", &pass("admin"), &state)?;
    for (name, role) in [
        ("limin", Role::Supervisor),
        ("wangfang", Role::Caseworker),
        ("chenchen", Role::Caseworker),
        ("auditor1", Role::Auditor),
    ] {
        // Each member enrols themself: the admin invites, the member makes their own keys,
        // the admin approves the fingerprint the member reads out.
        let inv = admin.staff_invite(name, role)?;
        let enrolled = vault::enrol(&dir, &inv.token(), &pass(name))?;
        admin.staff_approve(name, &enrolled.fingerprint)?;
        say(tr!("demo.step_staff", name = name, role = role.label()));
    }

    let mut sup = Session::open_in(&dir, "limin", &pass("limin"), &state)?;
    let r = sup.import(DATA.as_bytes(), 100, &mut |_, _| {})?;
    say(tr!(
        "demo.step_import",
        clients = r.clients,
        cases = r.cases,
        records = r.records
    ));

    let mut wang = Session::open_in(&dir, "wangfang", &pass("wangfang"), &state)?;
    let note = wang.record_add(&NewRecord {
        case_id: 1,
        kind: "process".into(),
        tier: None,
        fields: fields(json!({
            "client_number": "SZ2026-001", "worker": "王芳", "session_no": 2, "date": "2026-10-04",
            "form": "interview", "session_aim": "用绘画探索同伴关系。",
            "narrative": "服务对象画了教室，把自己画在角落；谈到同桌时哭了，说被起外号。",
            "next_plan": "征得同意后与班主任沟通。"
        })),
    })?;
    let shown = wang.record_show(note.id)?;
    say(tr!(
        "demo.step_note",
        id = note.id,
        tier = note.tier,
        aim = shown.fields["session_aim"].as_str().unwrap_or("")
    ));

    let risk = wang.record_add(&NewRecord {
        case_id: 1,
        kind: "risk_assessment".into(),
        tier: None,
        fields: fields(json!({
            "client_number": "SZ2026-001", "assessment_date": "2026-10-04", "risk_level": "medium",
            "risk_mark": "yellow", "immediate_actions": "服务对象透露曾有自伤念头；已制定安全计划并告知督导。"
        })),
    })?;
    say(tr!(
        "demo.step_tier3_written",
        id = risk.id,
        tier = risk.tier
    ));
    say(refused(wang.record_show(risk.id)));

    let mut chen = Session::open_in(&dir, "chenchen", &pass("chenchen"), &state)?;
    say(tr!("demo.step_unassigned"));
    say(refused(chen.record_show(note.id)));

    let read = sup.record_show(risk.id)?;
    say(tr!(
        "demo.step_supervisor_reads",
        id = risk.id,
        level = read.fields["risk_level"].as_str().unwrap_or("")
    ));

    sup.case_assign(1, "chenchen")?;
    let ok = chen.record_show(note.id).is_ok();
    say(tr!("demo.step_assigned", ok = ok));
    sup.case_unassign(1, "chenchen")?;
    let later = wang.record_add(&NewRecord {
        case_id: 1,
        kind: "process".into(),
        tier: None,
        fields: fields(json!({
            "client_number": "SZ2026-001", "date": "2026-10-11", "session_aim": "回顾与班主任的沟通。",
            "narrative": "班主任已调整座位，服务对象本周全勤。"
        })),
    })?;
    say(tr!("demo.step_unassigned_later", id = later.id));
    say(refused(chen.record_show(later.id)));

    say(tr!("demo.step_admin"));
    say(refused(admin.record_show(note.id)));

    // Rotating the database key needs the vault to itself: the other sessions close first.
    drop((chen, sup, wang));
    let cases = admin.staff_remove("chenchen")?;
    say(tr!("demo.step_offboard", cases = cases.len()));
    let gone = Session::open_in(&dir, "chenchen", &pass("chenchen"), &state);
    say(refused(gone.map(|_| ())));

    let mut sup = Session::open_in(&dir, "limin", &pass("limin"), &state)?;
    let closed = sup.case_close(3)?;
    say(tr!("demo.step_close", case = closed.id));
    drop((sup, admin));

    let db = std::fs::metadata(dir.db()).map(|m| m.len()).unwrap_or(0);
    let summary = json!({
        "vault": dir.root, "kept": a.keep.is_some(), "clients": r.clients, "records_imported": r.records,
        "database_bytes": db, "steps": steps, "marker": hex(&crate::crypto::sha256(DATA.as_bytes())[..4]),
    });
    if a.keep.is_some() {
        ctx.emit(&summary, || tr!("demo.kept", dir = dir.root.display()));
    } else {
        ctx.emit(&summary, || tr!("demo.done"));
    }
    Ok(())
}

/// "Refused: <reason>" for an expected refusal; a demo step that should fail but did not is a bug.
fn refused<T>(r: Result<T>) -> String {
    match r {
        Err(e) => tr!("demo.refused", reason = e),
        Ok(_) => tr!("demo.unexpected"),
    }
}

/// A private temporary directory removed on drop (the demo's vault holds only ciphertext).
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<Self> {
        let p = std::env::temp_dir().join(format!(
            "casevault-demo-{}",
            hex(&crate::crypto::random_bytes::<6>())
        ));
        crate::private::create_dir(&p).map_err(|e| Error::io(&p, e))?;
        Ok(TempDir(p))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

//! `casevault demo`: builds a demo agency vault with fictional clients, and a second vault for a
//! partner agency, in a folder it names, and walks through the three main jobs with narration:
//! intake to supervision, a guardian's consent and a referral packet (opened with stock `age`
//! and `minisign` when they are installed), the partner's import and a refused replay, a
//! guardian's access request with the accounting of disclosures, an audit that finds a planted
//! problem, and the auditor's offline log verification.
//! Nothing here is special-cased: every step is the same library call the commands make, and
//! the stock tools are run for real.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use clap::Args;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use super::Context;
use crate::crypto::hex;
use crate::domain::time::{now, today};
use crate::domain::{Authority, ConsentTerms, RequestKind, SignerRole};
use crate::error::{Error, Result};
use crate::packet::PartnerKeys;
use crate::policy::{Policy, Role};
use crate::tr;
use crate::vault::output::OutputSet;
use crate::vault::remember::StateDir;
use crate::vault::{
    self, Export, ExportRequest, InitOptions, NewRecord, NewRequest, PackageTo, Session, VaultDir,
};

/// The demo's fictional clients, cases and records (JSON Lines, as `casevault import` reads).
const DATA: &str = include_str!("demo_data.jsonl");

/// The demo's minor client (born 2014): her father is her guardian.
const CLIENT: &str = "SZ2026-001";

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Build the demo in this (new or empty) directory instead of a new temporary one.
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Then open the demo vault in the browser: serve it on this computer until Ctrl+C, which
    /// also removes the demo folder (unless --keep).
    #[arg(long)]
    pub serve: bool,
    /// With --serve: the loopback address and port (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7390", requires = "serve")]
    pub listen: String,
    /// Internal: removes the demo folder DIR when the serving demo ends (see `serve_demo`).
    #[arg(long, hide = true, value_name = "DIR")]
    pub remove_when_done: Option<PathBuf>,
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

/// Narration: each line goes to the terminal (unless `--json`) and into the summary; every
/// step that did not go as the story says is counted, so the demo fails loudly.
struct Narrator {
    json: bool,
    steps: Vec<String>,
    failed: Vec<String>,
}

impl Narrator {
    fn say(&mut self, line: String) {
        if !self.json {
            super::out::line(&line);
        }
        self.steps.push(line);
    }

    fn chapter(&mut self, n: u8, title: String) {
        self.say(String::new());
        self.say(tr!("demo.chapter", n = n, title = title));
    }

    /// "Refused: <reason>" for an expected refusal; a step that should fail but did not is a
    /// failure of the demo.
    fn refused<T>(&mut self, step: &str, r: Result<T>) {
        match r {
            Err(e) => self.say(tr!("demo.refused", reason = e)),
            Ok(_) => {
                self.failed.push(step.to_string());
                self.say(tr!("demo.unexpected"));
            }
        }
    }

    /// Records a check of the story; false is a failure of the demo.
    fn check(&mut self, step: &str, ok: bool) -> bool {
        if !ok {
            self.failed.push(step.to_string());
            self.say(tr!("demo.check_failed", step = step));
        }
        ok
    }
}

/// Where the demo puts everything: the agency's vault, the partner's vault, the outbox, the
/// guardian's and the partner's keys, the audit report and the log export.
struct Layout {
    root: PathBuf,
    vault: VaultDir,
    partner: VaultDir,
}

impl Layout {
    fn file(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }
}

/// Creates the demo's folder (0700): the one given, which must be new or empty, or a new one
/// under the temporary directory. Its subfolders are new, so 0700 too.
fn make_root(keep: Option<&Path>) -> Result<PathBuf> {
    let p = match keep {
        Some(p) => p.to_path_buf(),
        None => std::env::temp_dir().join(format!(
            "casevault-demo-{}",
            hex(&crate::crypto::random_bytes::<6>())
        )),
    };
    if p.is_dir() {
        let empty = std::fs::read_dir(&p)
            .map_err(|e| Error::io(&p, e))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Invalid(tr!("demo.not_empty", dir = p.display())));
        }
        // An empty folder the user already had keeps its mode: it is theirs (docs/threat-model.md).
    } else {
        crate::private::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    }
    for sub in ["outbox", "partner-keys", "guardian"] {
        let d = p.join(sub);
        crate::private::create_dir(&d).map_err(|e| Error::io(&d, e))?;
    }
    Ok(p)
}

pub fn run(ctx: &mut Context, a: DemoArgs) -> Result<()> {
    if let Some(dir) = &a.remove_when_done {
        return remove_when_done(dir);
    }
    // Checked before the story runs, so a bad address costs nothing.
    let listen = if a.serve {
        Some(crate::web::check_listen(&a.listen)?)
    } else {
        None
    };
    let started = Instant::now();
    // The demo is throwaway: use the lowest passphrase cost allowed outside tests.
    if std::env::var("CASEVAULT_SCRYPT_LOG_N").is_err() {
        std::env::set_var(
            "CASEVAULT_SCRYPT_LOG_N",
            crate::crypto::KDF_FLOOR_LOG_N.to_string(),
        );
    }
    let root = make_root(a.keep.as_deref())?;
    let l = Layout {
        vault: VaultDir::new(root.join("vault")),
        partner: VaultDir::new(root.join("partner-vault")),
        root,
    };
    // A vault in a temporary folder keeps its remembered log state beside it; a vault kept
    // where the user asked is remembered by this installation like any other vault.
    let state = match &a.keep {
        Some(_) => StateDir::from_env()?,
        None => StateDir::new(l.root.join("state")),
    };
    let mut n = Narrator {
        json: ctx.json,
        steps: Vec::new(),
        failed: Vec::new(),
    };
    n.say(tr!("demo.intro", dir = l.root.display()));

    let story = Story {
        l: &l,
        state: &state,
    };
    let intake = story.intake_to_supervision(&mut n)?;
    let partners = story.partners(&mut n)?;
    let consents = story.consents(&mut n, &partners)?;
    let sent = story.referrals(&mut n, &partners, &consents)?;
    let stock = story.stock_tools(&mut n, &partners, &sent)?;
    story.partner_import(&mut n, &partners, &sent)?;
    story.access_request(&mut n)?;
    let audit = story.audit(&mut n)?;
    let offline = story.offline_log(&mut n, &intake.pinned_key)?;

    let seconds = started.elapsed().as_secs_f64();
    n.say(String::new());
    let db = std::fs::metadata(l.vault.db())
        .map(|m| m.len())
        .unwrap_or(0);
    let summary = json!({
        "ok": n.failed.is_empty(),
        "failed": n.failed,
        "dir": l.root,
        "vault": l.vault.root,
        "partner_vault": l.partner.root,
        "kept": a.keep.is_some(),
        "clients": intake.clients,
        "records_imported": intake.records,
        "database_bytes": db,
        "stock_tools": stock,
        "files": {
            "packet": sent.to_school,
            "partner_packet": sent.to_partner,
            "access_package": l.file(ACCESS_PACKAGE),
            "audit_report": l.file(AUDIT_REPORT),
            "log_export": l.file(LOG_EXPORT),
        },
        "audit_findings": audit.findings,
        "planted_found": audit.planted_found,
        "offline_log_size": offline,
        "seconds": (seconds * 10.0).round() / 10.0,
        "steps": n.steps,
        "marker": hex(&crate::crypto::sha256(DATA.as_bytes())[..4]),
    });
    let failed = n.failed.clone();
    let root_shown = l.root.display().to_string();
    let removed_after = listen.is_some() && a.keep.is_none();
    ctx.emit(&summary, || {
        if removed_after {
            // `--serve` without `--keep`: the folder goes when the server stops (said next).
            tr!("web.demo_serve_done", seconds = format!("{seconds:.1}"))
        } else {
            tr!(
                "demo.done",
                dir = root_shown,
                seconds = format!("{seconds:.1}"),
                vault = l.vault.root.display()
            )
        }
    });
    if failed.is_empty() {
        match listen {
            Some(addr) => serve_demo(&l, a.keep.is_none(), addr),
            None => Ok(()),
        }
    } else {
        Err(Error::Several(
            failed
                .iter()
                .map(|s| tr!("demo.check_failed", step = s))
                .collect(),
        ))
    }
}

/// The demo staff who can sign in to the web interface after the story, and their roles.
const WEB_STAFF: &[(&str, Role)] = &[
    ("wangfang", Role::Caseworker),
    ("limin", Role::Supervisor),
    ("auditor1", Role::Auditor),
];

/// `demo --serve`: serves the demo vault on loopback and prints its address and the demo
/// staff's names and passphrases (demo data that guards nothing). A temporary demo folder is
/// removed when the process ends, Ctrl+C included: std cannot catch signals without unsafe
/// code, so a helper process in its own session (Ctrl+C does not reach it) waits for the
/// end of a pipe this process holds open, and removes the folder when it closes.
fn serve_demo(l: &Layout, temporary: bool, addr: std::net::SocketAddr) -> Result<()> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| Error::io(PathBuf::from(addr.to_string()), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(PathBuf::from(addr.to_string()), e))?;
    let _cleaner = if temporary {
        let exe = std::env::current_exe().map_err(|e| Error::io(PathBuf::from("casevault"), e))?;
        let child = Command::new(exe)
            .arg("demo")
            .arg("--remove-when-done")
            .arg(&l.root)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::io(PathBuf::from("casevault"), e))?;
        // The web sessions remember the log state where the story did: beside the vault.
        std::env::set_var("CASEVAULT_STATE_DIR", l.root.join("state"));
        Some(child)
    } else {
        None
    };
    super::out::line("");
    super::out::line(&tr!("web.demo_serve_at", url = format!("http://{bound}/")));
    for (name, role) in WEB_STAFF {
        super::out::line(&tr!(
            "web.demo_serve_staff",
            name = name,
            role = role.label(),
            passphrase = pass(name).expose_secret()
        ));
    }
    super::out::line(&tr!("web.demo_serve_not_secret"));
    super::out::line(&if temporary {
        tr!("web.demo_serve_stop_remove", dir = l.root.display())
    } else {
        tr!("web.demo_serve_stop_keep", dir = l.root.display())
    });
    let _ = super::out::finish();
    let cfg = crate::web::Config {
        vault: l.vault.clone(),
        idle: std::time::Duration::from_secs(15 * 60),
        tls: None,
        host: None,
    };
    match crate::web::serve(cfg, listener)? {}
}

/// The helper of [`serve_demo`]: leaves the terminal's session (so Ctrl+C ends only the
/// server), waits until the server's end of the pipe on stdin closes, then removes the demo
/// folder. Only a folder the demo itself made under the temporary directory is removed.
fn remove_when_done(dir: &Path) -> Result<()> {
    let _ = rustix::process::setsid();
    let ours = dir.parent() == Some(std::env::temp_dir().as_path())
        && dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("casevault-demo-"));
    if !ours {
        return Ok(());
    }
    let mut sink = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// The demo's files, relative to its folder.
const ACCESS_PACKAGE: &str = "guardian/access-package.age";
const GUARDIAN_KEY: &str = "guardian/guardian.agekey";
const AUDIT_REPORT: &str = "audit-report.html";
const LOG_EXPORT: &str = "log-export";
const SCHOOL_KEYS: &str = "partner-keys";
const TO_SCHOOL: &str = "outbox/to-school.age";
const TO_PARTNER: &str = "outbox/to-family-centre.age";

struct Story<'a> {
    l: &'a Layout,
    state: &'a StateDir,
}

struct Intake {
    clients: u64,
    records: u64,
    /// The log verifier key the auditor wrote down on her first day.
    pinned_key: String,
}

struct Partners {
    /// Our agency's name as partners know it.
    ours: String,
    /// The partner running casevault (the second demo vault).
    family: String,
    /// The partner with stock tools only.
    school: String,
    /// Our packet signing key (minisign, base64), as partners hold it.
    our_pubkey: String,
}

struct Consents {
    family: i64,
    school: i64,
}

struct Sent {
    to_school: PathBuf,
    to_partner: PathBuf,
}

struct AuditOutcome {
    findings: usize,
    planted_found: bool,
}

impl Story<'_> {
    fn open(&self, dir: &VaultDir, name: &str) -> Result<Session> {
        Session::open_in(dir, name, &pass(name), self.state)
    }

    /// Act 1: the agency, its staff, clients and cases, notes up to a top-tier supervision
    /// note, the separation of duties, offboarding and closing.
    fn intake_to_supervision(&self, n: &mut Narrator) -> Result<Intake> {
        let dir = &self.l.vault;
        n.chapter(1, tr!("demo.act1"));
        n.say(tr!("demo.step_init", dir = dir.root.display()));
        vault::init(
            dir,
            InitOptions {
                agency: tr!("demo.agency"),
                admin: "admin".into(),
                admin_passphrase: pass("admin"),
                policy_sources: Policy::embedded_sources(),
                recovery_out: self.l.root.join("recovery-key.txt"),
                recovery_shares: vault::recovery::ShareSpec::SINGLE,
            },
        )?;
        let mut admin = self.open(dir, "admin")?;
        for (name, role) in [
            ("limin", Role::Supervisor),
            ("wangfang", Role::Caseworker),
            ("chenchen", Role::Caseworker),
            ("auditor1", Role::Auditor),
        ] {
            // Each member enrols themself: the admin invites, the member makes their own keys,
            // the admin approves the fingerprint the member reads out.
            let inv = admin.staff_invite(name, role)?;
            let enrolled = vault::enrol(dir, &inv.token(), &pass(name))?;
            admin.staff_approve(name, &enrolled.fingerprint)?;
            n.say(tr!("demo.step_staff", name = name, role = role.label()));
        }
        // The auditor writes down the log's verifier key on her first day: later exports are
        // checked against this pinned key, not against whatever a later vault says.
        let pinned_key = {
            let aud = self.open(dir, "auditor1")?;
            crate::vault::disclosure::verifier_key(&aud.conn)?
        };
        n.say(tr!("demo.step_pin", key = pinned_key));

        let mut sup = self.open(dir, "limin")?;
        let r = sup.import(DATA.as_bytes(), 100, &mut |_, _| {})?;
        n.say(tr!(
            "demo.step_import",
            clients = r.clients,
            cases = r.cases,
            records = r.records
        ));

        let mut wang = self.open(dir, "wangfang")?;
        let note = wang.record_add(&NewRecord {
            case_id: 1,
            kind: "process".into(),
            tier: None,
            fields: fields(json!({
                "client_number": CLIENT, "worker": "王芳", "session_no": 2, "date": "2026-10-04",
                "form": "interview", "session_aim": "用绘画探索同伴关系。",
                "narrative": "服务对象画了教室，把自己画在角落；谈到同桌时哭了，说被起外号。",
                "next_plan": "征得同意后与班主任沟通。"
            })),
        })?;
        let shown = wang.record_show(note.id)?;
        n.say(tr!(
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
                "client_number": CLIENT, "assessment_date": "2026-10-04", "risk_level": "medium",
                "risk_mark": "yellow", "immediate_actions": "服务对象透露曾有自伤念头；已制定安全计划并告知督导。"
            })),
        })?;
        n.say(tr!(
            "demo.step_tier3_written",
            id = risk.id,
            tier = risk.tier
        ));
        n.refused("tier3_write_only", wang.record_show(risk.id));

        let mut chen = self.open(dir, "chenchen")?;
        n.say(tr!("demo.step_unassigned"));
        n.refused("unassigned_refused", chen.record_show(note.id));

        let read = sup.record_show(risk.id)?;
        n.say(tr!(
            "demo.step_supervisor_reads",
            id = risk.id,
            level = choice_label(
                &sup.policy,
                "risk_assessment",
                "risk_level",
                read.fields["risk_level"].as_str().unwrap_or("")
            )
        ));
        let supervision = sup.record_add(&NewRecord {
            case_id: 1,
            kind: "supervision".into(),
            tier: None,
            fields: fields(json!({
                "date": "2026-10-06", "supervisor": "李敏", "participants": "王芳", "form": "individual",
                "topic": "SZ2026-001 的自伤念头与安全计划", "advice": "每周跟进安全计划；与父亲沟通前先征得服务对象同意。",
                "plan_approved": true, "next_date": "2026-10-20"
            })),
        })?;
        n.say(tr!(
            "demo.step_supervision",
            id = supervision.id,
            tier = supervision.tier
        ));
        n.check(
            "supervision_top_tier",
            supervision.tier == sup.policy.max_tier(),
        );
        n.refused("supervision_hidden", wang.record_show(supervision.id));

        sup.case_assign(1, "chenchen")?;
        let ok = chen.record_show(note.id).is_ok();
        n.check("assigned_reads", ok);
        n.say(tr!(
            "demo.step_assigned",
            ok = if ok {
                tr!("common.yes")
            } else {
                tr!("common.no")
            }
        ));
        sup.case_unassign(1, "chenchen")?;
        let later = wang.record_add(&NewRecord {
            case_id: 1,
            kind: "process".into(),
            tier: None,
            fields: fields(json!({
                "client_number": CLIENT, "date": "2026-10-11", "session_aim": "回顾与班主任的沟通。",
                "narrative": "班主任已调整座位，服务对象本周全勤。"
            })),
        })?;
        n.say(tr!("demo.step_unassigned_later", id = later.id));
        n.refused("unassigned_later_refused", chen.record_show(later.id));

        n.say(tr!("demo.step_admin"));
        n.refused("admin_refused", admin.record_show(note.id));

        // Rotating the database key needs the vault to itself: the other sessions close first.
        drop((chen, sup, wang));
        let cases = admin.staff_remove("chenchen")?;
        n.say(tr!("demo.step_offboard", cases = cases.len()));
        n.refused("offboarded_refused", self.open(dir, "chenchen").map(|_| ()));

        let mut sup = self.open(dir, "limin")?;
        let closed = sup.case_close(3)?;
        n.say(tr!("demo.step_close", case = closed.id));
        Ok(Intake {
            clients: r.clients,
            records: r.records,
            pinned_key,
        })
    }

    /// The partners: a family service centre that runs casevault (the second demo vault), and
    /// a school counselling office with stock tools only (keys as `agency keygen` makes them).
    /// Each side registers the other's public keys.
    fn partners(&self, n: &mut Narrator) -> Result<Partners> {
        n.chapter(2, tr!("demo.act2"));
        let ours = tr!("demo.agency");
        let family = tr!("demo.partner_agency");
        let school = tr!("demo.school_agency");
        let p = &self.l.partner;
        vault::init(
            p,
            InitOptions {
                agency: family.clone(),
                admin: "admin".into(),
                admin_passphrase: pass("admin"),
                policy_sources: Policy::embedded_sources(),
                recovery_out: self.l.root.join("partner-recovery-key.txt"),
                recovery_shares: vault::recovery::ShareSpec::SINGLE,
            },
        )?;
        let mut padmin = self.open(p, "admin")?;
        let inv = padmin.staff_invite("zhaolei", Role::Supervisor)?;
        let enrolled = vault::enrol(p, &inv.token(), &pass("zhaolei"))?;
        padmin.staff_approve("zhaolei", &enrolled.fingerprint)?;
        // The agency's packet and inbound keys are made by its first supervisor's session.
        drop(self.open(p, "zhaolei")?);
        n.say(tr!(
            "demo.step_partner_vault",
            agency = family,
            dir = p.root.display()
        ));

        let mut admin = self.open(&self.l.vault, "admin")?;
        let our_keys = admin.our_agency_keys()?;
        let our_pubkey = our_keys.keys.packet_key()?.to_base64();
        let our_log_key = crate::vault::disclosure::verifier_key(&admin.conn)?;
        let partner_pubkey = padmin.our_agency_keys()?.keys.packet_key()?.to_base64();
        admin.agency_add(
            &family,
            &padmin.inbound_recipient()?,
            &partner_pubkey,
            None,
            "",
        )?;
        padmin.agency_add(
            &ours,
            &admin.inbound_recipient()?,
            &our_pubkey,
            Some(&our_log_key),
            "",
        )?;
        n.say(tr!("demo.step_paired", partner = family));

        // The school has no casevault: our admin makes its keys (as `agency keygen` does) and
        // hands it the secret files; we keep only the public halves.
        admin.require(crate::policy::Action::AgencyManage)?;
        let k = PartnerKeys::generate();
        let keys = self.l.file(SCHOOL_KEYS);
        let set = OutputSet {
            primary: keys.join("partner.agekey"),
            companions: vec![
                keys.join("partner.minisign.key"),
                keys.join("partner.minisign.pub"),
            ],
            lone_companion_is_ours: false,
        };
        set.write(
            k.age_identity_file(now().max(0) as u64)
                .expose_secret()
                .as_bytes(),
            &[
                k.minisign_secret_key_file().expose_secret().as_bytes(),
                k.minisign_public_key_file().as_bytes(),
            ],
            false,
        )?;
        admin.agency_add(
            &school,
            &k.age_recipient.to_string(),
            &k.minisign_public.to_base64(),
            None,
            "",
        )?;
        n.say(tr!(
            "demo.step_school_keys",
            agency = school,
            dir = keys.display()
        ));
        Ok(Partners {
            ours,
            family,
            school,
            our_pubkey,
        })
    }

    /// Act 2: the minor cannot consent alone; her father, her guardian, signs two consents.
    fn consents(&self, n: &mut Narrator, p: &Partners) -> Result<Consents> {
        let mut wang = self.open(&self.l.vault, "wangfang")?;
        let terms =
            |signer: SignerRole, name: &str, kinds: &[&str], tiers: &[u8], purpose| ConsentTerms {
                signer_role: signer,
                signer_name: name.into(),
                authority: tr!("demo.guardian_authority"),
                purposes: vec![purpose],
                kinds: kinds.iter().map(|k| k.to_string()).collect(),
                tiers: tiers.to_vec(),
                description: tr!("demo.consent_description"),
                separate_consent: false,
                revoke_how: tr!("demo.revoke_how"),
                redisclosure_notice: tr!("referral.default_redisclosure"),
                signed_on: today(),
                expires_on: today().add_days(180),
            };
        n.say(tr!("demo.step_minor_alone"));
        let alone = terms(
            SignerRole::Client,
            "张小雨",
            &["intake"],
            &[1],
            tr!("demo.purpose_family"),
        );
        n.refused(
            "minor_alone_refused",
            wang.consent_add(CLIENT, &p.family, &alone, None),
        );
        let family = wang.consent_add(
            CLIENT,
            &p.family,
            &terms(
                SignerRole::Guardian,
                "张建国",
                &["intake", "service_plan", "process"],
                &[1, 2],
                tr!("demo.purpose_family"),
            ),
            None,
        )?;
        n.say(tr!(
            "demo.step_consent",
            id = family.id,
            agency = p.family,
            kinds = kind_labels(&wang.policy, &family.terms.kinds),
            expires = family.terms.expires_on
        ));
        let school = wang.consent_add(
            CLIENT,
            &p.school,
            &terms(
                SignerRole::Guardian,
                "张建国",
                &["intake"],
                &[1, 2],
                tr!("demo.purpose_school"),
            ),
            None,
        )?;
        n.say(tr!(
            "demo.step_consent",
            id = school.id,
            agency = p.school,
            kinds = kind_labels(&wang.policy, &school.terms.kinds),
            expires = school.terms.expires_on
        ));
        Ok(Consents {
            family: family.id,
            school: school.id,
        })
    }

    /// Act 3: the caseworker asks for each export; the supervisor reviews what would leave
    /// and releases it by its digest; the packets are written to the outbox.
    fn referrals(&self, n: &mut Narrator, p: &Partners, c: &Consents) -> Result<Sent> {
        n.chapter(3, tr!("demo.act3"));
        let mut wang = self.open(&self.l.vault, "wangfang")?;
        let mut sup = self.open(&self.l.vault, "limin")?;
        let mut send =
            |agency: &str, consent: i64, purpose: String, rel: &str| -> Result<PathBuf> {
                let req = ExportRequest {
                    case_id: 1,
                    agency: agency.into(),
                    consent_id: consent,
                    records: Vec::new(),
                    purpose,
                    request_id: None,
                    notice_for: None,
                    release_of: None,
                };
                let id = match wang.referral_submit(&req)? {
                    Export::AwaitingRelease(id) => id,
                    Export::Released(_) => {
                        return Err(Error::Invalid(tr!("demo.check_failed", step = "release")))
                    }
                };
                n.say(tr!("demo.step_export_requested", id = id, agency = agency));
                let pending = sup.referral_pending()?;
                let Some(row) = pending.iter().find(|r| r.id == id) else {
                    return Err(Error::NotFound {
                        what: "release request",
                        id: id.to_string(),
                    });
                };
                let records: Vec<String> = row
                    .records
                    .iter()
                    .map(|r| {
                        tr!(
                            "demo.review_record",
                            id = r.id,
                            kind = kind_labels(&sup.policy, std::slice::from_ref(&r.kind)),
                            tier = r.tier
                        )
                    })
                    .collect();
                n.say(tr!(
                    "demo.step_review",
                    id = id,
                    records = records.join(&tr!("demo.list_sep")),
                    digest = row.digest
                ));
                let (referral, built) = sup.referral_release(id, &row.digest)?;
                let out = self.l.file(rel);
                super::referral::write_packet(&out, &built, false)?;
                n.say(tr!(
                    "demo.step_released",
                    id = referral.id,
                    count = referral.records.len(),
                    index = referral.log_index,
                    file = rel
                ));
                Ok(out)
            };
        let to_school = send(&p.school, c.school, tr!("demo.purpose_school"), TO_SCHOOL)?;
        let to_partner = send(&p.family, c.family, tr!("demo.purpose_family"), TO_PARTNER)?;
        Ok(Sent {
            to_school,
            to_partner,
        })
    }

    /// The school opens its packet with stock tools: the commands it would type, run for real
    /// when `minisign` and `age` are on PATH. The decrypted bundle stays in memory: only its
    /// file names are listed.
    fn stock_tools(&self, n: &mut Narrator, p: &Partners, s: &Sent) -> Result<&'static str> {
        n.say(tr!("demo.step_stock_intro", agency = p.school));
        let key = Path::new(SCHOOL_KEYS).join("partner.agekey");
        n.say(format!("   $ cd {}", self.l.root.display()));
        n.say(format!("   $ minisign -Vm {TO_SCHOOL} -P {}", p.our_pubkey));
        n.say(format!(
            "   $ age -d -i {} {TO_SCHOOL} | tar -t",
            key.display()
        ));
        let missing: Vec<&str> = ["minisign", "age"]
            .into_iter()
            .filter(|t| !on_path(t))
            .collect();
        if !missing.is_empty() {
            n.say(tr!(
                "demo.step_stock_skipped",
                tools = missing.join(&tr!("demo.list_sep"))
            ));
            return Ok("skipped");
        }
        let sig = Command::new("minisign")
            .arg("-V")
            .arg("-P")
            .arg(&p.our_pubkey)
            .arg("-m")
            .arg(&s.to_school)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(Path::new("minisign"), e))?;
        if n.check("stock_minisign", sig.status.success()) {
            n.say(tr!("demo.step_minisign_ok"));
        }
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(self.l.root.join(&key))
            .arg(&s.to_school)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::io(Path::new("age"), e))?;
        let plain = zeroize::Zeroizing::new(out.stdout);
        let names: Vec<String> = match crate::packet::ustar::read(&plain, 64) {
            Ok((entries, _)) if out.status.success() => {
                entries.iter().map(|e| e.name.to_string()).collect()
            }
            _ => Vec::new(),
        };
        if n.check("stock_age", !names.is_empty()) {
            n.say(tr!("demo.step_age_ok", files = names.join("  ")));
        }
        Ok("ran")
    }

    /// Act 4: the family centre's supervisor imports the packet into the partner's vault
    /// (signature, decryption, our log receipt checked); the same packet again is refused.
    fn partner_import(&self, n: &mut Narrator, p: &Partners, s: &Sent) -> Result<()> {
        n.chapter(4, tr!("demo.act4"));
        let ct = crate::error::read_capped(&s.to_partner, crate::packet::MAX_PACKET_BYTES as u64)?;
        let sig = crate::error::read_capped_text(
            &super::referral::sig_path(&s.to_partner),
            crate::packet::MAX_SIGNATURE_TEXT_BYTES as u64,
        )?;
        let mut zhao = self.open(&self.l.partner, "zhaolei")?;
        let r = zhao.packet_import(&p.ours, &ct, &sig, None)?;
        n.say(tr!(
            "demo.step_imported",
            agency = p.family,
            number = r.client_number,
            case = r.case_id,
            count = r.records.len()
        ));
        n.say(format!("   {}", r.receipt.text(&p.ours)));
        n.check("receipt_checked", r.receipt.receipt == "checked");
        n.say(tr!("demo.step_replay"));
        n.refused(
            "replay_refused",
            zhao.packet_import(&p.ours, &ct, &sig, None),
        );
        Ok(())
    }

    /// Act 5: the father asks to see what the agency holds on his daughter; the supervisor
    /// answers with a package encrypted to his own age key; he opens it and reads, among the
    /// rest, the accounting of disclosures: both referrals.
    fn access_request(&self, n: &mut Narrator) -> Result<()> {
        n.chapter(5, tr!("demo.act5"));
        let mut wang = self.open(&self.l.vault, "wangfang")?;
        let req = wang.request_add(&NewRequest {
            kind: RequestKind::Access,
            client: CLIENT.into(),
            requester: "张建国".into(),
            authority: Authority::Guardian,
            identity_check: tr!("demo.identity_check"),
            received: None,
            record_id: None,
        })?;
        drop(wang);
        n.say(tr!("demo.step_request", id = req.id, due = req.due));
        // The father's own key, made on his side (as `age-keygen` does); we get only the
        // public half.
        let guardian = PartnerKeys::generate();
        OutputSet::single(&self.l.file(GUARDIAN_KEY)).write(
            guardian
                .age_identity_file(now().max(0) as u64)
                .expose_secret()
                .as_bytes(),
            &[],
            false,
        )?;
        let mut sup = self.open(&self.l.vault, "limin")?;
        let o = sup.request_fulfil(
            req.id,
            &PackageTo::Recipient(guardian.age_recipient.clone()),
            &self.l.file(ACCESS_PACKAGE),
        )?;
        n.say(tr!(
            "demo.step_fulfilled",
            records = o.records,
            withheld = o.withheld,
            disclosures = o.disclosures,
            file = ACCESS_PACKAGE
        ));
        n.say(format!(
            "   $ age -d -i {GUARDIAN_KEY} {ACCESS_PACKAGE} | tar -xO package.json"
        ));
        // The father's side, in memory: his key opens the package; the accounting is read
        // from its package.json.
        let ct = crate::error::read_capped(
            &self.l.file(ACCESS_PACKAGE),
            crate::packet::MAX_PACKET_BYTES as u64,
        )?;
        let plain = crate::crypto::decrypt(&[&guardian.age_identity], &ct)?.unwrap_or_default();
        let (entries, _) = crate::packet::ustar::read(&plain, 64)?;
        let package: serde_json::Value = entries
            .iter()
            .find(|e| e.name == "package.json")
            .and_then(|e| serde_json::from_slice(e.data).ok())
            .unwrap_or_default();
        let lines = package["disclosures"]["entries"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        n.say(tr!("demo.step_accounting", count = lines.len()));
        for d in &lines {
            n.say(tr!(
                "demo.accounting_line",
                date = d["date"].as_str().unwrap_or(""),
                recipient = d["recipient"].as_str().unwrap_or(""),
                what = d["description"].as_str().unwrap_or(""),
                purpose = d["purpose"].as_str().unwrap_or("")
            ));
        }
        n.check("accounting_lists_referrals", lines.len() >= 2);
        Ok(())
    }

    /// Act 6: an insider with the database key plants a read of a case that is not hers (a
    /// row in the read trail, written through the store as a patched program would); the
    /// auditor's run finds it and writes the HTML report.
    fn audit(&self, n: &mut Narrator) -> Result<AuditOutcome> {
        n.chapter(6, tr!("demo.act6"));
        {
            let wang = self.open(&self.l.vault, "wangfang")?;
            let metas = crate::store::records::list(&wang.conn, 2)?;
            let Some(m) = metas.first() else {
                return Err(Error::NotFound {
                    what: "record",
                    id: "case 2".into(),
                });
            };
            // Case 2 is hers; case 3 is not. The planted read is of case 3's file.
            let theirs = crate::store::records::list(&wang.conn, 3)?;
            let target = theirs.first().unwrap_or(m);
            crate::store::records::note_read(&wang.conn, target, "wangfang", false, now())?;
            n.say(tr!(
                "demo.step_plant",
                record = target.id,
                case = target.case_id
            ));
        }
        let aud = self.open(&self.l.vault, "auditor1")?;
        let report = crate::audit::run(&aud, &crate::audit::Options::default())?;
        let html = crate::audit::report::render(&report, crate::audit::report::Format::Html);
        OutputSet::single(&self.l.file(AUDIT_REPORT)).write(html.as_bytes(), &[], false)?;
        let planted = report.findings.iter().find(|f| {
            f.check == "access.unassigned_read"
                && f.location
                    .iter()
                    .any(|l| l == &tr!("audit.loc.staff", name = "wangfang"))
        });
        if n.check("audit_found_plant", planted.is_some()) {
            if let Some(f) = planted {
                n.say(tr!(
                    "demo.step_found",
                    severity = f.severity.label(),
                    what = f.what
                ));
            }
        }
        for f in report
            .findings
            .iter()
            .filter(|f| f.check != "access.unassigned_read")
        {
            n.say(tr!(
                "demo.step_other_finding",
                severity = f.severity.label(),
                what = f.what
            ));
        }
        n.check("audit_complete", !report.incomplete());
        n.say(tr!(
            "demo.step_report",
            count = report.findings.len(),
            file = AUDIT_REPORT
        ));
        Ok(AuditOutcome {
            findings: report.findings.len(),
            planted_found: planted.is_some(),
        })
    }

    /// Act 7: the auditor exports the log and verifies the export offline, with no vault and
    /// no passphrase, against the key she pinned in act 1.
    fn offline_log(&self, n: &mut Narrator, pinned: &str) -> Result<u64> {
        n.chapter(7, tr!("demo.act7"));
        let out = self.l.file(LOG_EXPORT);
        {
            let aud = self.open(&self.l.vault, "auditor1")?;
            let entries = aud.log_export(&out)?;
            aud.export_cosignatures(&out)?;
            n.say(tr!(
                "demo.step_log_export",
                entries = entries,
                dir = LOG_EXPORT
            ));
        }
        n.say(format!(
            "   $ casevault log verify --export {LOG_EXPORT} --key {pinned}"
        ));
        let r =
            crate::log::verify_export_with(&out, pinned, &[], crate::log::VerifyOptions::default());
        if n.check("offline_verify", r.is_ok()) {
            n.say(tr!(
                "demo.step_log_ok",
                size = r.size,
                checkpoints = r.checkpoints_checked
            ));
        } else {
            for e in &r.errors {
                n.say(format!("   ✗ {e}"));
            }
        }
        Ok(r.size)
    }
}

/// The record kinds' labels in the current language (the key itself for an unknown kind).
fn kind_labels(policy: &Policy, kinds: &[String]) -> String {
    kinds
        .iter()
        .map(|k| {
            policy
                .template(k)
                .map(|t| t.label())
                .unwrap_or_else(|| k.clone())
        })
        .collect::<Vec<_>>()
        .join(&tr!("demo.list_sep"))
}

/// A choice field's value as its label in the current language.
fn choice_label(policy: &Policy, kind: &str, field: &str, value: &str) -> String {
    policy
        .template(kind)
        .and_then(|t| t.field(field))
        .map(|f| f.choice_label(value))
        .unwrap_or_else(|| value.to_string())
}

/// Whether an executable of this name is on PATH.
fn on_path(tool: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            std::fs::metadata(d.join(tool))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

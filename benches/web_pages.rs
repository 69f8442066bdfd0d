//! Web page benchmark (issue 13 item 5): server time per page of `casevault serve` on a
//! 100,000-record vault against a 1,000-record vault made the same way, measured in the same
//! run pair by pair, and the serve process's peak memory. A plain `main` (harness = false).
//!
//! 1. **Vaults**, made through the library as real use makes them (`Session::import` in
//!    batches, so every row is signed and logged; staff enrolled by invitation; consents and
//!    requests through `consent_add`/`request_add`), from a seeded generator. 100k: 2,000
//!    clients, 2,000 cases, 50 records per case (intake, service plan, 46 process notes,
//!    2 tier-3 supervision notes); 1k: 20 clients made the same way. 8 caseworkers (`w1`..`w8`)
//!    each assigned to every 8th case, one supervisor (`li`). Kept in
//!    `$CASEVAULT_WEB_BENCH_VAULTS/web-vault-{100k,1k}/<format>-data<N>/` and reused.
//! 2. **Pages**: one `casevault serve` per vault (the release binary). A scripted session signs
//!    in and crawls: it GETs `/`, then every same-origin link found (paths only; no `/logout`,
//!    no `/static/`, no downloads, no query), breadth-first, up to `PAGES` pages and at most
//!    `PER_KIND` pages of one kind (the path with numeric segments replaced by `{id}`), so new
//!    screens are covered as soon as they are linked. The server's own time per response comes
//!    from its `Server-Timing: app;dur=` header. Each round crawls both vaults as a caseworker
//!    and as a supervisor, alternating which vault goes first.
//! 3. **Memory**: a fresh serve process per vault; VmHWM and VmRSS from `/proc/PID/status` after
//!    the first page with nobody signed in, after a caseworker's crawl (1 session) and after a
//!    supervisor's crawl too (2 sessions).
//!
//! Run: `scripts/bench_web.sh` (release build, vaults in /work/benchrel by default).
//! Knobs: `CASEVAULT_WEB_BENCH_VAULTS` (where the vaults live; default the target dir),
//! `CASEVAULT_WEB_BENCH_ROUNDS` (5), `CASEVAULT_WEB_BENCH_CLIENTS` (2,000 for the large vault).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use casevault::domain::time::today;
use casevault::domain::{Authority, ConsentTerms, RequestKind, SignerRole};
use casevault::packet::PartnerKeys;
use casevault::policy::{Policy, Role};
use casevault::vault::{self, InitOptions, NewRequest, Session, VaultDir, VERSION_LINE};
use secrecy::SecretString;

/// Bump when the generated data changes, so cached vaults are rebuilt.
const DATA_VERSION: u32 = 1;
const RECORDS_PER_CASE: usize = 50;
const WORKERS: usize = 8;
const SUPERVISOR: &str = "li";
const CASEWORKER: &str = "w1";
const PAGES: usize = 100;
const PER_KIND: usize = 20;
const BATCH: usize = 1000;
const TARGET_MS: f64 = 50.0;

fn pass(name: &str) -> String {
    format!("{name} pw: velvet harbour lantern")
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "文", "辉", "建", "红", "鑫", "宇",
];
const PHRASES: &[&str] = &[
    "服务对象谈到近期的睡眠情况，",
    "与母亲的沟通有所改善，",
    "学校老师反映出勤率提高，",
    "讨论了下一阶段的目标，",
    "社工回应了其对住房的担忧，",
    "共同制定了每周的作息计划，",
    "服务对象表示愿意参加小组活动，",
    "家访时观察到居住环境整洁，",
    "对就业培训表现出兴趣，",
    "情绪较上次面谈平稳。",
];

/// A small deterministic generator (xorshift64*), so every run builds the same data set.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn text(&mut self, chars: usize) -> String {
        let mut s = String::new();
        while s.chars().count() < chars {
            s.push_str(PHRASES[self.below(PHRASES.len())]);
        }
        s
    }
}

/// The import file: clients, their cases (one worker each, round robin) and 50 records a case
/// with realistic sizes (process notes of 150-600 Chinese characters, about 0.5-2 KB).
fn data_set(clients: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::new();
    let mut line = |v: serde_json::Value| {
        serde_json::to_writer(&mut out, &v).unwrap();
        out.push(b'\n');
    };
    for i in 0..clients {
        let number = format!("B{i:06}");
        let name = format!(
            "{}{}{}",
            SURNAMES[rng.below(SURNAMES.len())],
            GIVEN[rng.below(GIVEN.len())],
            GIVEN[rng.below(GIVEN.len())]
        );
        let year = 1950 + rng.below(55);
        let gender = ["female", "male"][rng.below(2)];
        let risk = ["none", "yellow", "red"][rng.below(3)];
        let category = ["basic", "development", "crisis"][rng.below(3)];
        line(serde_json::json!({
            "type": "client", "number": number, "name": name,
            "birth_date": format!("{year}-{:02}-{:02}", 1 + rng.below(12), 1 + rng.below(28)),
            "gender": gender,
            "phone": format!("138-{:04}-{:04}", rng.below(10_000), rng.below(10_000)),
            "address": format!("幸福街道 {} 号", 1 + rng.below(300)),
            "risk": risk,
            "category": category,
        }));
        let worker = format!("w{}", i % WORKERS + 1);
        line(serde_json::json!({
            "type": "case", "client": number, "source": "outreach", "workers": [worker]
        }));
        let rec = |kind: &str, fields: serde_json::Value| serde_json::json!({"type": "record", "client": number, "kind": kind, "fields": fields});
        line(rec(
            "intake",
            serde_json::json!({
                "client_number": number, "intake_worker": worker, "intake_date": "2026-01-05",
                "source": "outreach", "situation_family": rng.text(80),
                "situation_study_work": rng.text(60), "crisis_factors": "low",
                "crisis_intervention": false
            }),
        ));
        line(rec(
            "service_plan",
            serde_json::json!({
                "client_number": number, "worker": worker, "plan_date": "2026-01-20",
                "needs": rng.text(60), "strengths": rng.text(40),
                "overall_goal": rng.text(40), "specific_goals": rng.text(120)
            }),
        ));
        for j in 0..RECORDS_PER_CASE - 4 {
            let n = 150 + rng.below(450);
            line(rec(
                "process",
                serde_json::json!({
                    "client_number": number, "worker": worker, "session_no": j + 1,
                    "date": format!("2026-{:02}-{:02}", 1 + j % 12, 1 + j % 28),
                    "form": "interview", "place": "社工站",
                    "session_aim": rng.text(30), "narrative": rng.text(n),
                    "findings": rng.text(40), "next_plan": rng.text(30)
                }),
            ));
        }
        for j in 0..2 {
            line(rec(
                "supervision",
                serde_json::json!({
                    "date": format!("2026-{:02}-15", 3 + j * 4), "supervisor": "李督导",
                    "topic": rng.text(40), "discussion": rng.text(200), "advice": rng.text(80)
                }),
            ));
        }
    }
    out
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// `<vaults>/web-vault-<label>/<format>-data<N>`: a new vault format or data set gets a new
/// folder, and the old one is removed.
fn vault_root(label: &str) -> PathBuf {
    let base = std::env::var_os("CASEVAULT_WEB_BENCH_VAULTS")
        .map(PathBuf::from)
        .unwrap_or_else(target_dir)
        .join(format!("web-vault-{label}"));
    base.join(format!(
        "{}-data{DATA_VERSION}",
        VERSION_LINE.replace(' ', "-")
    ))
}

fn open(dir: &VaultDir, who: &str) -> Session {
    Session::open(dir, who, &SecretString::from(pass(who))).unwrap()
}

/// Builds (or reuses) the vault of `clients` clients; returns its folder and, when built now,
/// how long making it took.
fn ensure_vault(label: &str, clients: usize) -> (PathBuf, Option<Duration>) {
    let root = vault_root(label);
    let done = root.join("complete");
    std::env::set_var("CASEVAULT_STATE_DIR", root.join("state"));
    if done.exists() {
        return (root, None);
    }
    if let Some(parent) = root.parent() {
        let _ = std::fs::remove_dir_all(parent);
    }
    std::fs::create_dir_all(root.join("tmp")).unwrap();
    let t = Instant::now();
    let dir = VaultDir::new(root.join("vault"));
    vault::init(
        &dir,
        InitOptions {
            agency: "Bench Agency".into(),
            admin: "admin".into(),
            admin_passphrase: SecretString::from(pass("admin")),
            policy_sources: Policy::embedded_sources(),
            recovery_out: root.join("recovery.txt"),
            recovery_shares: casevault::vault::recovery::ShareSpec::SINGLE,
        },
    )
    .unwrap();
    let mut admin = open(&dir, "admin");
    let mut staff: Vec<(String, Role)> = vec![(SUPERVISOR.into(), Role::Supervisor)];
    staff.extend((1..=WORKERS).map(|i| (format!("w{i}"), Role::Caseworker)));
    for (name, role) in &staff {
        let inv = admin.staff_invite(name, *role).unwrap();
        let e = vault::enrol(&dir, &inv.token(), &SecretString::from(pass(name))).unwrap();
        admin.staff_approve(name, &e.fingerprint).unwrap();
    }
    let partner = PartnerKeys::generate();
    admin
        .agency_add(
            "伙伴中心",
            &partner.age_recipient.to_string(),
            &partner.minisign_public.to_base64(),
            None,
            "",
        )
        .unwrap();
    drop(admin);
    let t_staff = t.elapsed();

    let data = data_set(clients);
    let mut sup = open(&dir, SUPERVISOR);
    let t_import = Instant::now();
    let report = sup.import(&data, BATCH, &mut |_, _| {}).unwrap();
    let import = t_import.elapsed();
    assert_eq!(report.records as usize, clients * RECORDS_PER_CASE);

    // One consent for every 10th client, one access request for every 25th.
    let t_more = Instant::now();
    let (mut consents, mut requests) = (0, 0);
    for i in (0..clients).step_by(10) {
        let c = sup.client_show(&format!("B{i:06}")).unwrap();
        let terms = ConsentTerms {
            signer_role: SignerRole::Client,
            signer_name: c.data.name.clone(),
            authority: "本人签署".into(),
            purposes: vec!["继续服务".into()],
            kinds: vec!["intake".into(), "process".into()],
            tiers: vec![1, 2],
            description: "转介至伙伴中心继续服务".into(),
            separate_consent: false,
            revoke_how: "书面通知社工".into(),
            redisclosure_notice: "未经同意不得再披露".into(),
            signed_on: today(),
            expires_on: today().add_days(180),
        };
        sup.consent_add(&c.data.number, "伙伴中心", &terms, None)
            .unwrap();
        consents += 1;
        if i % 25 == 0 {
            sup.request_add(&NewRequest {
                kind: RequestKind::Access,
                client: c.data.number.clone(),
                requester: c.data.name.clone(),
                authority: Authority::Client,
                identity_check: "身份证核对".into(),
                received: None,
                record_id: None,
            })
            .unwrap();
            requests += 1;
        }
    }
    drop(sup);
    let total = t.elapsed();
    eprintln!(
        "made {label}: {} records in {:.1} s (vault + 10 staff {:.1} s, import {:.1} s = {:.0} records/s, {consents} consents + {requests} requests {:.1} s)",
        report.records,
        total.as_secs_f64(),
        t_staff.as_secs_f64(),
        import.as_secs_f64(),
        report.records as f64 / import.as_secs_f64(),
        t_more.elapsed().as_secs_f64(),
    );
    std::fs::write(&done, format!("{} records\n", report.records)).unwrap();
    (root, Some(total))
}

/// A running `casevault serve`, killed on drop.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(root: &Path) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_casevault"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CASEVAULT_TEST_MODE", "1")
        .env("CASEVAULT_SCRYPT_LOG_N", "2")
        .env("CASEVAULT_LANG", "zh")
        .env("TMPDIR", root.join("tmp"))
        .env("CASEVAULT_STATE_DIR", root.join("state"))
        .arg("--vault")
        .arg(root.join("vault"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let start = line.find("http://").expect("address printed") + 7;
    let addr = line[start..].split('/').next().unwrap().to_string();
    Server { child, addr }
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, c)| {
                c.strip_prefix(&format!("{name}="))
                    .map(|r| r.split(';').next().unwrap().to_string())
            })
    }
    /// The server's own time (`Server-Timing: app;dur=…`), in ms.
    fn server_ms(&self) -> f64 {
        self.header("server-timing")
            .and_then(|v| v.split("dur=").nth(1))
            .and_then(|v| v.parse().ok())
            .expect("Server-Timing header")
    }
}

fn request(s: &Server, method: &str, path: &str, cookie: &str, body: &str) -> Resp {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", s.addr);
    if !cookie.is_empty() {
        text.push_str(&format!("Cookie: {cookie}\r\n"));
    }
    if method == "POST" {
        text.push_str(&format!(
            "Origin: http://{}\r\nContent-Type: application/x-www-form-urlencoded\r\n",
            s.addr
        ));
    }
    text.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));
    let mut t = TcpStream::connect(&s.addr).unwrap();
    t.write_all(text.as_bytes()).unwrap();
    let mut raw = Vec::new();
    t.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn csrf_of(page: &str) -> String {
    let i = page.find("name=\"csrf\" value=\"").expect("csrf field") + 19;
    page[i..i + 64].to_string()
}

/// Signs `who` in; returns the session cookie.
fn sign_in(s: &Server, who: &str) -> String {
    let page = request(s, "GET", "/login", "", "");
    let login = page.cookie("cv_login").expect("login cookie");
    let body = format!(
        "csrf={}&name={}&passphrase={}",
        csrf_of(&page.body),
        enc(who),
        enc(&pass(who))
    );
    let r = request(s, "POST", "/login", &format!("cv_login={login}"), &body);
    assert_eq!(r.status, 303, "sign-in of {who}: {}", r.body);
    format!("cv_session={}", r.cookie("cv_session").expect("session"))
}

/// The page kind: the path with numeric segments as `{id}`.
fn kind(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{id}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Same-origin GET targets in a page: `href="/…"` paths (anchors only; forms are POSTs).
fn links(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("href=\"") {
        rest = &rest[i + 6..];
        let Some(end) = rest.find('"') else { break };
        let href = rest[..end].replace("&amp;", "&");
        rest = &rest[end..];
        let path = href.split('#').next().unwrap_or("");
        let skip = !path.starts_with('/')
            || path.starts_with("//")
            || path.contains('?')
            || path == "/logout"
            || path.starts_with("/static/")
            || path.contains("download")
            || path.contains("/attachments/")
            || path.ends_with(".age")
            || path.ends_with(".pdf");
        if !skip {
            out.push(path.to_string());
        }
    }
    out
}

/// Server times of one session's crawl, by page kind; statuses other than 200 are counted.
#[derive(Default)]
struct Crawl {
    times: BTreeMap<String, Vec<f64>>,
    odd: BTreeMap<String, Vec<u16>>,
}

/// Breadth-first from `/`: every link, at most `PAGES` pages and `PER_KIND` of one kind.
fn crawl(s: &Server, cookie: &str) -> Crawl {
    let mut out = Crawl::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut per_kind: BTreeMap<String, usize> = BTreeMap::new();
    let mut queue: VecDeque<String> = VecDeque::from(["/".to_string()]);
    let mut fetched = 0;
    while let Some(path) = queue.pop_front() {
        if fetched >= PAGES {
            break;
        }
        let k = kind(&path);
        if !seen.insert(path.clone()) || per_kind.get(&k).copied().unwrap_or(0) >= PER_KIND {
            continue;
        }
        *per_kind.entry(k.clone()).or_default() += 1;
        fetched += 1;
        let r = request(s, "GET", &path, cookie, "");
        out.times.entry(k.clone()).or_default().push(r.server_ms());
        if r.status == 303 {
            if let Some(loc) = r.header("location") {
                queue.push_back(loc.to_string());
            }
        } else if r.status != 200 {
            out.odd.entry(k).or_default().push(r.status);
        }
        for l in links(&r.body) {
            if !seen.contains(&l) {
                queue.push_back(l);
            }
        }
    }
    out
}

/// (VmHWM, VmRSS) of a process, in MiB.
fn memory(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn stats(v: &[f64]) -> (f64, f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let p95 = v[((n * 95).div_ceil(100)).saturating_sub(1)];
    (v[n / 2], p95, v[0], v[n - 1])
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    // Cheap identity sealing: the passphrase KDF is not what is measured.
    std::env::set_var("CASEVAULT_TEST_MODE", "1");
    std::env::set_var("CASEVAULT_SCRYPT_LOG_N", "2");
    std::env::set_var("CASEVAULT_LANG", "en");
    let rounds = env_usize("CASEVAULT_WEB_BENCH_ROUNDS", 5).max(1);
    let clients = env_usize("CASEVAULT_WEB_BENCH_CLIENTS", 2000);
    let big_label = if clients == 2000 {
        "100k".to_string()
    } else {
        format!("{}", clients * RECORDS_PER_CASE)
    };
    let (small, small_made) = ensure_vault("1k", 20);
    let (big, big_made) = ensure_vault(&big_label, clients);
    for (label, made) in [("1k", small_made), (big_label.as_str(), big_made)] {
        match made {
            Some(d) => println!("vault {label}: made in {:.1} s", d.as_secs_f64()),
            None => println!("vault {label}: reused"),
        }
    }
    let vaults = [(big_label.as_str(), &big), ("1k", &small)];

    // Memory: fresh processes, 0, 1 and 2 sessions.
    println!("\n## Memory of the serve process (MiB; VmHWM = peak RSS, VmRSS = now)\n");
    println!("| vault | sessions | after | VmHWM | VmRSS |\n|---|---|---|---|---|");
    for (label, root) in vaults {
        let s = serve(root);
        let pid = s.child.id();
        let _ = request(&s, "GET", "/login", "", "");
        let m0 = memory(pid);
        let w = sign_in(&s, CASEWORKER);
        crawl(&s, &w);
        let m1 = memory(pid);
        let sup = sign_in(&s, SUPERVISOR);
        crawl(&s, &sup);
        let m2 = memory(pid);
        for (n, what, (hwm, rss)) in [
            (0, "GET /login", m0),
            (1, "caseworker's crawl", m1),
            (2, "supervisor's crawl too", m2),
        ] {
            println!("| {label} | {n} | {what} | {hwm:.1} | {rss:.1} |");
        }
    }

    // Pages: both vaults served at once; each round alternates which goes first.
    let servers: Vec<(&str, Server)> = vaults.iter().map(|(l, r)| (*l, serve(r))).collect();
    let roles = [("caseworker", CASEWORKER), ("supervisor", SUPERVISOR)];
    let cookies: Vec<Vec<String>> = servers
        .iter()
        .map(|(_, s)| roles.iter().map(|(_, who)| sign_in(s, who)).collect())
        .collect();
    // times[role][vault][kind] = all server times; per-round medians for the pair ratios.
    let mut times: Vec<Vec<BTreeMap<String, Vec<f64>>>> = vec![vec![BTreeMap::new(); 2]; 2];
    let mut round_ratios: Vec<BTreeMap<String, Vec<f64>>> = vec![BTreeMap::new(); 2];
    let mut odd: BTreeMap<String, usize> = BTreeMap::new();
    for round in 0..rounds {
        for (ri, _) in roles.iter().enumerate() {
            let order = if (round + ri) % 2 == 0 {
                [0, 1]
            } else {
                [1, 0]
            };
            let mut this: Vec<Crawl> = vec![Crawl::default(), Crawl::default()];
            for vi in order {
                this[vi] = crawl(&servers[vi].1, &cookies[vi][ri]);
            }
            for (vi, c) in this.iter().enumerate() {
                for (k, v) in &c.times {
                    times[ri][vi].entry(k.clone()).or_default().extend(v);
                }
                for (k, v) in &c.odd {
                    *odd.entry(format!("{} {} {k} {v:?}", servers[vi].0, roles[ri].0))
                        .or_default() += 1;
                }
            }
            for (k, v) in &this[0].times {
                if let Some(w) = this[1].times.get(k) {
                    let ratio = stats(v).0 / stats(w).0.max(0.01);
                    round_ratios[ri].entry(k.clone()).or_default().push(ratio);
                }
            }
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }

    println!(
        "\n## Server time per page kind (ms, from `Server-Timing`), {rounds} rounds\n\n\
         Ratio: median over rounds of (median at {big_label} / median at 1k) in the same round.\n"
    );
    println!(
        "| role | page kind | n | {big_label} median | p95 | range | 1k median | p95 | ratio | < {TARGET_MS} ms |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut all_met = true;
    for (ri, (role, _)) in roles.iter().enumerate() {
        let kinds: std::collections::BTreeSet<&String> =
            times[ri][0].keys().chain(times[ri][1].keys()).collect();
        for k in kinds {
            let big = times[ri][0].get(k);
            let small = times[ri][1].get(k);
            let fmt = |v: Option<&Vec<f64>>| match v {
                Some(v) => {
                    let (m, p, lo, hi) = stats(v);
                    (
                        format!("{m:.2}"),
                        format!("{p:.2}"),
                        format!("{lo:.2}-{hi:.2}"),
                        m,
                    )
                }
                None => ("-".into(), "-".into(), "-".into(), 0.0),
            };
            let (bm, bp, br, bmed) = fmt(big);
            let (sm, sp, _, _) = fmt(small);
            let ratio = round_ratios[ri]
                .get(k)
                .map_or("-".to_string(), |r| format!("{:.1}×", stats(r).0));
            let met = bmed < TARGET_MS;
            all_met &= met;
            println!(
                "| {role} | `{k}` | {} | {bm} | {bp} | {br} | {sm} | {sp} | {ratio} | {} |",
                big.map_or(0, Vec::len),
                if met { "yes" } else { "**no**" }
            );
        }
    }
    if !odd.is_empty() {
        println!("\nResponses other than 200/303 (vault, role, kind, statuses: crawls):");
        for (k, n) in &odd {
            println!("- {k}: {n}");
        }
    }
    println!(
        "\nEvery page kind's median under {TARGET_MS} ms at {big_label}: {}",
        if all_met { "met" } else { "**missed**" }
    );
}

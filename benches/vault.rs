//! Vault core benchmarks (issue 2, item 5). A plain `main` (harness = false) that prints a table:
//!
//! 1. **Import** of 10,000 clients, 10,000 cases and 100,000 `process` records (~1 KiB of JSON
//!    content each) through `Session::import` (batches of 1000 lines) into a fresh vault, against
//!    a floor measured in the same run: the same content bytes age-encrypted to one X25519
//!    recipient and inserted into a bare SQLCipher table (raw key, WAL, synchronous = FULL) in one
//!    transaction, single-threaded and, since import seals in parallel, with rayon too.
//!    Target: import at most 1.5x the floor. Median of `CASEVAULT_BENCH_REPS` runs (default 3).
//! 2. **Open + show** one random record with 100k records present: `Session::with_identity`
//!    (identity already unlocked, so the passphrase KDF is excluded) + `record_show`. Target < 50 ms.
//! 3. **Client search** by a name fragment matching a handful of the 10,000 clients, as a
//!    supervisor (`Session::client_search`). Target < 20 ms.
//!
//! The 100k vault of (2) and (3) is cached in `<target>/bench-vault-100k/<format key>/`, so a rerun
//! with `CASEVAULT_BENCH_SKIP_IMPORT=1` only measures (2) and (3).
//! `CASEVAULT_BENCH_CLIENTS` scales the data set down for quick checks (no caching then).
//!
//! Run: `cargo bench --bench vault` or `benches/run.sh`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use casevault::crypto::StaffIdentity;
use casevault::policy::{Policy, Role};
use casevault::vault::{self, InitOptions, Session, VaultDir, VERSION_LINE};
use rayon::prelude::*;
use rusqlite::{params, Connection};
use secrecy::SecretString;
use unicode_width::UnicodeWidthStr;

/// Bump when the generated data or the vault layout used here changes.
const BENCH_DATA_VERSION: u32 = 1;
const RECORDS_PER_CLIENT: usize = 10;
const BATCH: usize = 1000;
const CONTENT_BYTES: usize = 1024;
const SUPERVISOR: &str = "li";
const SUPERVISOR_PW: &str = "li pw: velvet harbour lantern";
const ADMIN_PW: &str = "admin pw: amber kettle orbit";

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明",
    "超", "秀", "霞", "平", "刚", "桂", "英", "华", "玉", "兰", "文", "辉", "建", "红", "鑫", "宇",
    "浩", "凯", "佳", "欣", "怡", "晨", "子", "轩",
];
const WORDS: &[&str] = &[
    "family",
    "school",
    "contact",
    "support",
    "mother",
    "teacher",
    "session",
    "goal",
    "progress",
    "housing",
    "income",
    "worry",
    "plan",
    "follow",
    "call",
    "visit",
    "group",
    "skills",
    "sleep",
    "friends",
    "work",
    "health",
    "neighbour",
    "safety",
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
}

fn client_name(rng: &mut Rng) -> String {
    format!(
        "{}{}{}",
        SURNAMES[rng.below(SURNAMES.len())],
        GIVEN[rng.below(GIVEN.len())],
        GIVEN[rng.below(GIVEN.len())]
    )
}

/// Record fields whose content JSON (`{"v":1,"salt":…,"fields":…}`, as the vault seals it) is
/// about `CONTENT_BYTES` long.
fn record_fields(
    rng: &mut Rng,
    number: &str,
    j: usize,
) -> serde_json::Map<String, serde_json::Value> {
    let mut fields = serde_json::Map::new();
    fields.insert("client_number".into(), number.into());
    fields.insert(
        "date".into(),
        format!("2026-{:02}-{:02}", 1 + j % 12, 1 + j % 28).into(),
    );
    fields.insert(
        "session_aim".into(),
        format!("session {} aim: review the plan", j + 1).into(),
    );
    fields.insert("narrative".into(), "".into());
    let fixed = content_json(&fields).len();
    let mut text = String::new();
    while text.len() + fixed < CONTENT_BYTES {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(WORDS[rng.below(WORDS.len())]);
    }
    text.truncate(CONTENT_BYTES.saturating_sub(fixed));
    fields.insert("narrative".into(), text.into());
    fields
}

/// The bytes the vault encrypts for a record (same shape as `RecordContent`).
fn content_json(fields: &serde_json::Map<String, serde_json::Value>) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "v": 1, "salt": "00112233445566778899aabbccddeeff", "fields": fields
    }))
    .unwrap()
}

struct DataSet {
    /// The import file (JSON Lines).
    jsonl: Vec<u8>,
    /// The content bytes of each record, as the floor encrypts them.
    contents: Vec<Vec<u8>>,
    /// Client names, for choosing a search fragment.
    names: Vec<String>,
}

fn data_set(clients: usize) -> DataSet {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut jsonl = Vec::with_capacity(clients * RECORDS_PER_CLIENT * (CONTENT_BYTES + 100));
    let mut contents = Vec::with_capacity(clients * RECORDS_PER_CLIENT);
    let mut names = Vec::with_capacity(clients);
    for i in 0..clients {
        let number = format!("C{i:06}");
        let name = client_name(&mut rng);
        let client = serde_json::json!({"type": "client", "number": number, "name": name});
        let case = serde_json::json!({"type": "case", "client": number, "source": "outreach"});
        for line in [client, case] {
            serde_json::to_writer(&mut jsonl, &line).unwrap();
            jsonl.push(b'\n');
        }
        names.push(name);
        for j in 0..RECORDS_PER_CLIENT {
            let fields = record_fields(&mut rng, &number, j);
            contents.push(content_json(&fields));
            let line = serde_json::json!({
                "type": "record", "client": number, "kind": "process", "fields": fields
            });
            serde_json::to_writer(&mut jsonl, &line).unwrap();
            jsonl.push(b'\n');
        }
    }
    DataSet {
        jsonl,
        contents,
        names,
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Scratch space on the same file system as the cache (not a tmpfs: fsync cost matters).
fn scratch() -> tempfile::TempDir {
    let base = target_dir().join("bench-tmp");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

/// A new vault in `root` with admin `admin` and supervisor `li`.
fn new_vault(root: &Path) -> VaultDir {
    let dir = VaultDir::new(root.join("vault"));
    vault::init(
        &dir,
        InitOptions {
            agency: "Bench Agency".into(),
            admin: "admin".into(),
            admin_passphrase: SecretString::from(ADMIN_PW),
            policy_sources: Policy::embedded_sources(),
            recovery_out: root.join("recovery.txt"),
            recovery_shares: casevault::vault::recovery::ShareSpec::SINGLE,
        },
    )
    .unwrap();
    let mut admin = Session::open(&dir, "admin", &SecretString::from(ADMIN_PW)).unwrap();
    {
        // Enrolment as people do it: invite, the member's own keys, approval.
        let inv = admin.staff_invite(SUPERVISOR, Role::Supervisor).unwrap();
        let e = casevault::vault::enrol(
            &admin.dir.clone(),
            &inv.token(),
            &SecretString::from(SUPERVISOR_PW),
        )
        .unwrap();
        admin.staff_approve(SUPERVISOR, &e.fingerprint).unwrap();
    }
    dir
}

fn supervisor_identity(dir: &VaultDir) -> StaffIdentity {
    let file = std::fs::read(dir.identity(SUPERVISOR)).unwrap();
    StaffIdentity::open(&file, &SecretString::from(SUPERVISOR_PW), SUPERVISOR).unwrap()
}

/// Imports the data set into a fresh vault in `root`; returns the wall and CPU time of
/// `Session::import` alone (creating the vault is not counted).
fn import_once(root: &Path, data: &DataSet) -> (Duration, Duration) {
    let dir = new_vault(root);
    let mut s = Session::with_identity(&dir, supervisor_identity(&dir)).unwrap();
    let (report, wall, cpu) = timed(|| s.import(&data.jsonl, BATCH, &mut |_, _| {}).unwrap());
    assert_eq!(report.records as usize, data.contents.len());
    (wall, cpu)
}

/// A bare SQLCipher database set up like the vault's (`store::open`).
fn bare_db(path: &Path) -> Connection {
    let conn = Connection::open(path).unwrap();
    let key: [u8; 32] = rand::random();
    let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    conn.execute_batch(&format!(
        "PRAGMA cipher_log_level = NONE; PRAGMA key = \"x'{hex}'\";"
    ))
    .unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA secure_delete = ON;
         PRAGMA temp_store = MEMORY;
         CREATE TABLE records (id INTEGER PRIMARY KEY, body BLOB NOT NULL);",
    )
    .unwrap();
    conn
}

fn age_encrypt(r: &age::x25519::Recipient, plain: &[u8]) -> Vec<u8> {
    casevault::crypto::encrypt(r, plain).unwrap()
}

fn insert_all(conn: &mut Connection, bodies: impl Iterator<Item = Vec<u8>>) {
    let tx = conn.transaction().unwrap();
    {
        let mut st = tx
            .prepare("INSERT INTO records(id, body) VALUES (?1, ?2)")
            .unwrap();
        for (i, b) in bodies.enumerate() {
            st.execute(params![i as i64 + 1, b]).unwrap();
        }
    }
    tx.commit().unwrap();
}

/// The floor: encrypt each record to one recipient and insert it, one transaction.
/// Returns wall and CPU time.
fn floor_once(data: &DataSet, parallel: bool) -> (Duration, Duration) {
    let tmp = scratch();
    let mut conn = bare_db(&tmp.path().join("floor.db"));
    let recipient = age::x25519::Identity::generate().to_public();
    let ((), wall, cpu) = timed(|| {
        if parallel {
            let bodies: Vec<Vec<u8>> = data
                .contents
                .par_iter()
                .map(|c| age_encrypt(&recipient, c))
                .collect();
            insert_all(&mut conn, bodies.into_iter());
        } else {
            insert_all(
                &mut conn,
                data.contents.iter().map(|c| age_encrypt(&recipient, c)),
            );
        }
    });
    (wall, cpu)
}

/// CPU time (user + system, all threads) this process has used so far, from `/proc/self/stat`
/// (Linux; zero elsewhere). With the 2 cores shared, CPU time is steadier than wall time.
fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    let ticks = f.iter().sum::<u64>();
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let (c, t) = (cpu_time(), Instant::now());
    let out = f();
    (out, t.elapsed(), cpu_time().saturating_sub(c))
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn p95(v: &mut [Duration]) -> Duration {
    v.sort();
    v[((v.len() * 95).div_ceil(100)).saturating_sub(1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The cache directory for a 100k vault of this data and vault format.
fn cache_dir() -> PathBuf {
    let format = VERSION_LINE.replace(' ', "-");
    target_dir()
        .join("bench-vault-100k")
        .join(format!("{format}-data{BENCH_DATA_VERSION}"))
}

/// A cached vault that opens and holds the whole data set, if there is one.
fn cached_vault(path: &Path, records: usize) -> Option<VaultDir> {
    let dir = VaultDir::new(path.join("vault"));
    dir.check().ok()?;
    let file = std::fs::read(dir.identity(SUPERVISOR)).ok()?;
    let me = StaffIdentity::open(&file, &SecretString::from(SUPERVISOR_PW), SUPERVISOR).ok()?;
    let s = Session::with_identity(&dir, me).ok()?;
    let n: i64 = s
        .conn
        .query_row("SELECT count(*) FROM records", [], |r| r.get(0))
        .ok()?;
    (n as usize == records).then_some(dir)
}

/// Keeps `root` (a vault just imported) as the cache, replacing an older one.
fn keep_as_cache(root: tempfile::TempDir, cache: &Path) {
    let _ = std::fs::remove_dir_all(cache);
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    std::fs::rename(root.keep(), cache).unwrap();
}

/// Picks a fragment (a two-character given name) that a handful of clients share.
fn search_fragment(names: &[String]) -> (String, usize) {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for n in names {
        let given: String = n.chars().skip(1).collect();
        *counts.entry(given).or_default() += 1;
    }
    let best = counts
        .iter()
        .min_by_key(|(_, &c)| (c as i64 - 5).abs())
        .unwrap();
    let fragment = best.0.clone();
    let hits = names.iter().filter(|n| n.contains(&fragment)).count();
    (fragment, hits)
}

struct Row {
    what: String,
    value: String,
    target: String,
}

fn main() {
    // Before anything else: cheap identity sealing (the KDF is not what is measured).
    std::env::set_var("CASEVAULT_TEST_MODE", "1");
    std::env::set_var("CASEVAULT_SCRYPT_LOG_N", "2");
    std::env::set_var("CASEVAULT_LANG", "en");

    let clients = env_usize("CASEVAULT_BENCH_CLIENTS", 10_000);
    let reps = env_usize("CASEVAULT_BENCH_REPS", 3).max(1);
    let runs = env_usize("CASEVAULT_BENCH_RUNS", 50).max(1);
    let skip_import = std::env::var("CASEVAULT_BENCH_SKIP_IMPORT").is_ok_and(|v| v == "1");
    let full = clients == 10_000;

    let t = Instant::now();
    let data = data_set(clients);
    let records = data.contents.len();
    let avg_content =
        data.contents.iter().map(Vec::len).sum::<usize>() as f64 / records.max(1) as f64;
    eprintln!(
        "data: {clients} clients, {clients} cases, {records} records, {:.0} B content each, {:.1} MiB file ({:.1} s to generate)",
        avg_content,
        data.jsonl.len() as f64 / (1 << 20) as f64,
        t.elapsed().as_secs_f64()
    );
    let mut table: Vec<Row> = Vec::new();
    let cache = cache_dir();
    let mut vault_dir = if full {
        cached_vault(&cache, records)
    } else {
        None
    };
    let mut _keep_small: Option<tempfile::TempDir> = None;

    // 1. Import against the floor.
    if !skip_import || vault_dir.is_none() {
        // (wall, cpu) per repetition of: floor 1 thread, floor rayon, import.
        let mut runs3: [(Vec<Duration>, Vec<Duration>); 3] = Default::default();
        for rep in 0..reps {
            let root = scratch();
            let measured = [
                floor_once(&data, false),
                floor_once(&data, true),
                import_once(root.path(), &data),
            ];
            for (k, (wall, cpu)) in measured.into_iter().enumerate() {
                eprintln!(
                    "rep {}: {:<16} wall {}  cpu {}",
                    rep + 1,
                    ["floor (1 thread)", "floor (rayon)", "import"][k],
                    secs(wall),
                    secs(cpu)
                );
                runs3[k].0.push(wall);
                runs3[k].1.push(cpu);
            }
            if rep + 1 == reps {
                if full {
                    keep_as_cache(root, &cache);
                    vault_dir = cached_vault(&cache, records);
                } else {
                    vault_dir = Some(VaultDir::new(root.path().join("vault")));
                    _keep_small = Some(root);
                }
            }
        }
        let [(fw, fc), (pw, pc), (iw, ic)] =
            runs3.map(|(mut w, mut c)| (median(&mut w), median(&mut c)));
        let threads = rayon::current_num_threads();
        let rate = |d: Duration| format!("{:.0} records/s", records as f64 / d.as_secs_f64());
        for (what, w, c) in [
            (
                format!("floor: age + bare SQLCipher insert, 1 thread ({records} records)"),
                fw,
                fc,
            ),
            (
                format!("floor: same, encryption on rayon ({threads} threads)"),
                pw,
                pc,
            ),
            (format!("import: Session::import, batch {BATCH}"), iw, ic),
        ] {
            table.push(Row {
                what,
                value: format!("{} wall ({}), {} CPU", secs(w), rate(w), secs(c)),
                target: String::new(),
            });
        }
        let verdict = |r: f64| format!("<= 1.5x: {}", if r <= 1.5 { "met" } else { "MISSED" });
        for (what, r) in [
            (
                "ratio import / floor (1 thread), wall",
                iw.as_secs_f64() / fw.as_secs_f64(),
            ),
            (
                "ratio import / floor (rayon), wall",
                iw.as_secs_f64() / pw.as_secs_f64(),
            ),
            (
                "ratio import / floor (1 thread), CPU",
                ic.as_secs_f64() / fc.as_secs_f64(),
            ),
        ] {
            table.push(Row {
                what: what.into(),
                value: format!("{r:.2}x"),
                target: verdict(r),
            });
        }
    }
    let dir = vault_dir.expect("a vault with the data set");

    // 2. Open + show one random record.
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let me = supervisor_identity(&dir);
        let id = 1 + rng.below(records) as i64;
        let t = Instant::now();
        let mut s = Session::with_identity(&dir, me).unwrap();
        let rec = s.record_show(id).unwrap();
        let took = t.elapsed();
        assert_eq!(rec.meta.id, id);
        times.push(took);
    }
    let (m, p) = (median(&mut times), p95(&mut times));
    table.push(Row {
        what: format!("open + show (with_identity + record_show), {runs} runs"),
        value: format!("median {} / p95 {}", ms(m), ms(p)),
        target: format!(
            "< 50 ms: {}",
            if p < Duration::from_millis(50) {
                "met"
            } else {
                "MISSED"
            }
        ),
    });

    // 3. Client search: in a fresh session each run (cold page cache) and in one session (warm).
    let (fragment, hits) = search_fragment(&data.names);
    let mut cold = Vec::with_capacity(runs);
    for _ in 0..runs {
        let s = Session::with_identity(&dir, supervisor_identity(&dir)).unwrap();
        let t = Instant::now();
        let found = s.client_search(&fragment, 50).unwrap();
        cold.push(t.elapsed());
        assert_eq!(found.len(), hits);
    }
    let s = Session::with_identity(&dir, supervisor_identity(&dir)).unwrap();
    let mut warm = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let found = s.client_search(&fragment, 50).unwrap();
        warm.push(t.elapsed());
        assert_eq!(found.len(), hits);
    }
    for (label, v) in [("fresh session", &mut cold), ("same session", &mut warm)] {
        let (m, p) = (median(v), p95(v));
        table.push(Row {
            what: format!(
                "client_search \"{fragment}\" ({hits} of {clients}), {label}, {runs} runs"
            ),
            value: format!("median {} / p95 {}", ms(m), ms(p)),
            target: format!(
                "< 20 ms: {}",
                if p < Duration::from_millis(20) {
                    "met"
                } else {
                    "MISSED"
                }
            ),
        });
    }

    // The table.
    let w = table.iter().map(|r| r.what.width()).max().unwrap_or(0);
    let v = table.iter().map(|r| r.value.width()).max().unwrap_or(0);
    println!();
    println!(
        "vault core benchmark ({} cores)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    for r in &table {
        let pad = w - r.what.width();
        let vpad = v - r.value.width();
        println!(
            "  {}{}  {}{}  {}",
            r.what,
            " ".repeat(pad),
            r.value,
            " ".repeat(vpad),
            r.target
        );
    }
}

//! Bulk import from JSON Lines: one transaction per batch, crypto in parallel.
//!
//! ```text
//! {"type":"client","number":"C001","name":"…", …}            fields of NewClient
//! {"type":"case","client":"C001","source":"referral","workers":["wang"]}
//! {"type":"record","client":"C001","kind":"process","fields":{…}}   latest open case of C001
//! {"type":"record","case":12,"kind":"intake","tier":2,"fields":{…}}
//! ```
//! A bad line is reported by number and its whole batch is left unwritten. Progress is kept as
//! the SHA-256 of the file's committed prefix, so running the file again (even with a later
//! line fixed) resumes after the committed batches.

use std::collections::HashMap;

use rayon::prelude::*;
use rusqlite::{params, Connection};
use serde::Deserialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::authority::Claim;
use super::records::{resolve_tier, seal_record};
use super::Session;
use crate::crypto;
use crate::domain::text::{strip_bom, JSON_INPUT_MAX_BYTES};
use crate::domain::time::{now, today};
use crate::domain::{NewClient, RecordMeta, Source, Stage};
use crate::error::{Error, Result};
use crate::policy::{Action, Role};
use crate::store;
use crate::tr;

/// Most lines in one import batch (one transaction): larger batches hold too much in memory
/// and keep the database locked for too long.
pub const MAX_IMPORT_BATCH: usize = 100_000;

/// Called after each batch with (lines done, lines in file).
pub type ImportProgress<'a> = &'a mut dyn FnMut(u64, u64);

/// What an import did.
#[derive(Debug, Default, serde::Serialize)]
pub struct ImportReport {
    pub lines: u64,
    pub skipped_lines: u64,
    pub batches: u64,
    pub clients: u64,
    pub cases: u64,
    pub records: u64,
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum Item {
    Client(NewClient),
    Case {
        client: String,
        #[serde(default = "default_source")]
        source: Source,
        #[serde(default)]
        workers: Vec<String>,
    },
    Record {
        #[serde(default)]
        client: Option<String>,
        #[serde(default)]
        case: Option<i64>,
        kind: String,
        #[serde(default)]
        tier: Option<u8>,
        fields: Map<String, Value>,
    },
}

fn default_source() -> Source {
    Source::SelfReferred
}

/// Removes quoted values from a parser message, so a bad line's content never reaches a log.
fn redact(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    let mut quoted = false;
    for ch in msg.chars() {
        if ch == '"' {
            if !quoted {
                out.push_str("\"…\"");
            }
            quoted = !quoted;
        } else if !quoted {
            out.push(ch);
        }
    }
    out
}

fn line_err(line: u64, reason: impl std::fmt::Display) -> Error {
    Error::Invalid(tr!("vault.import_line", line = line, reason = reason))
}

impl Session {
    /// Imports `data` (JSON Lines) in batches of `batch_size` lines (1 to
    /// [`MAX_IMPORT_BATCH`]). A UTF-8 byte order mark at the start is skipped; a line longer
    /// than [`JSON_INPUT_MAX_BYTES`] is refused before it is parsed.
    pub fn import(
        &mut self,
        data: &[u8],
        batch_size: usize,
        progress: ImportProgress,
    ) -> Result<ImportReport> {
        for a in [Action::ClientAdd, Action::CaseOpen, Action::RecordWrite] {
            self.require(a)?;
        }
        if !(1..=MAX_IMPORT_BATCH).contains(&batch_size) {
            return Err(Error::Invalid(tr!(
                "vault.import_batch",
                max = MAX_IMPORT_BATCH
            )));
        }
        let data = strip_bom(data);
        let text = std::str::from_utf8(data)
            .map_err(|e| line_err(line_of(data, e.valid_up_to()), "UTF-8"))?;
        let lines: Vec<(u64, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l))
            .collect();
        // Byte offset just past each line, for the prefix hashes that identify progress.
        let mut ends = Vec::with_capacity(lines.len());
        let mut pos = 0usize;
        for l in text.split_inclusive('\n') {
            pos += l.len();
            ends.push(pos);
        }
        let offset = |n: u64| if n == 0 { 0 } else { ends[n as usize - 1] };
        let prefix = |n: u64| crypto::sha256(&data[..offset(n)]);
        let done = resume_point(&self.conn, lines.len(), &prefix)?;
        let total = lines.len() as u64;
        let mut report = ImportReport {
            lines: total,
            skipped_lines: done.min(total),
            ..Default::default()
        };
        progress(report.skipped_lines, total);
        let todo = &lines[report.skipped_lines as usize..];
        // The prefix hashes grow batch by batch: one running hash, never the whole prefix again.
        let mut hashed = offset(report.skipped_lines);
        let mut running = Sha256::new();
        running.update(&data[..hashed]);
        let mut before: [u8; 32] = running.clone().finalize().into();
        for chunk in todo.chunks(batch_size) {
            // Parsing is independent per line: in parallel, errors kept in line order.
            let parsed: Vec<Result<(u64, Item)>> = chunk
                .par_iter()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|&(n, l)| {
                    if l.len() > JSON_INPUT_MAX_BYTES {
                        let max_kib = JSON_INPUT_MAX_BYTES >> 10;
                        return Err(line_err(
                            n,
                            tr!("vault.import_line_too_long", max_kib = max_kib),
                        ));
                    }
                    serde_json::from_str::<Item>(l)
                        .map(|item| (n, item))
                        .map_err(|e| line_err(n, redact(&e.to_string())))
                })
                .collect();
            let items = parsed.into_iter().collect::<Result<Vec<_>>>()?;
            let last = chunk.last().map(|c| c.0).unwrap_or(0);
            running.update(&data[hashed..offset(last)]);
            hashed = offset(last);
            let after: [u8; 32] = running.clone().finalize().into();
            let start = chunk.first().map(|c| c.0 - 1).unwrap_or(0);
            let resume = Resume {
                start,
                lines: lines.len(),
                prefix: &prefix,
            };
            self.import_batch(&items, (&before, &after), last, &resume, &mut report)?;
            before = after;
            report.batches += 1;
            progress(last, total);
        }
        Ok(report)
    }

    /// Imports one batch in one transaction. `prefixes` are the hashes of the file up to the
    /// batch's start and end: the progress row moves from the first to the second.
    fn import_batch(
        &mut self,
        items: &[(u64, Item)],
        prefixes: (&[u8; 32], &[u8; 32]),
        last_line: u64,
        resume: &Resume,
        report: &mut ImportReport,
    ) -> Result<()> {
        let at = now();
        let me = self.me.name.clone();
        let role = self.role;
        let signer = self.me.signing.clone();
        let may_lower = self.policy.allows(role, Action::RecordLowerTier);
        let may_assign = self.policy.allows(role, Action::CaseAssign);
        let all_cases = self.policy.all_cases(role);
        let policy = &self.policy;
        let tx = store::immediate(&self.conn)?;
        // Under the write lock: this batch must start exactly where the committed progress of
        // this file ends. Another process importing the same file moves it, and then this one
        // stops instead of importing the same lines twice.
        let committed = if resume.start == 0 {
            resume_point(&tx, resume.lines, resume.prefix)?
        } else if tx.query_row(
            "SELECT EXISTS(SELECT 1 FROM imports WHERE file_sha256 = ?1 AND lines_done = ?2)",
            params![&prefixes.0[..], resume.start],
            |r| r.get::<_, bool>(0),
        )? {
            resume.start
        } else {
            u64::MAX
        };
        if committed != resume.start {
            return Err(Error::Invalid(tr!("vault.import_concurrent")));
        }

        // 1. Clients.
        for (n, item) in items {
            if let Item::Client(c) = item {
                c.check(today()).map_err(|p| line_err(*n, Error::from(p)))?;
                store::clients::insert(&tx, c, at, &me).map_err(|e| line_err(*n, e))?;
                report.clients += 1;
            }
        }
        // 2. Cases, then their keys in parallel.
        let mut new_cases = Vec::new();
        for (n, item) in items {
            if let Item::Case {
                client,
                source,
                workers,
            } = item
            {
                let c = store::clients::find(&tx, client)?
                    .ok_or_else(|| line_err(*n, tr!("vault.import_no_client", client = client)))?;
                if !workers.is_empty() && !may_assign {
                    return Err(line_err(*n, tr!("vault.import_assign_needs_supervisor")));
                }
                let id = store::cases::insert(&tx, c.id, *source, at, &me)?;
                for w in workers {
                    let ok = self.registry().member(w).is_some_and(|m| {
                        m.active
                            && (m.role == Role::Caseworker.as_str()
                                || m.role == Role::Supervisor.as_str())
                    });
                    if !ok {
                        return Err(line_err(*n, Error::UnknownStaff(w.clone())));
                    }
                    store::cases::assign(&tx, id, w, at)?;
                    let claim = Claim::Assignment {
                        case: id,
                        staff: w.clone(),
                        opened: false,
                    };
                    self.attest(&tx, &claim, Some(id))?;
                }
                new_cases.push(id);
            }
        }
        // A caseworker importing opens the cases: they hold the first epochs they make, and
        // their own assignments are signed after them.
        let mut extra = Vec::new();
        if role == Role::Caseworker {
            let m = self
                .registry()
                .member(&me)
                .ok_or_else(|| Error::UnknownStaff(me.clone()))?;
            extra.push(super::keys::member_holder(&self.policy, &m)?);
        }
        self.new_epochs_with(&tx, &new_cases, at, &extra)?;
        if role == Role::Caseworker {
            let mut claims = Vec::with_capacity(new_cases.len());
            for &id in &new_cases {
                store::cases::assign(&tx, id, &me, at)?;
                claims.push(Claim::Assignment {
                    case: id,
                    staff: me.clone(),
                    opened: true,
                });
            }
            let refs: Vec<(&Claim, Option<i64>)> = claims
                .iter()
                .zip(&new_cases)
                .map(|(c, id)| (c, Some(*id)))
                .collect();
            self.attest_many(&tx, &refs)?;
        }
        report.cases += new_cases.len() as u64;

        // 3. Records: resolve and check sequentially, seal in parallel, insert in order.
        let mut next_id = store::records::next_id(&tx)?;
        let mut recipients: HashMap<(i64, i64, u8), age::x25519::Recipient> = HashMap::new();
        let mut epochs: HashMap<i64, i64> = HashMap::new();
        #[allow(clippy::type_complexity)]
        let mut jobs: Vec<(u64, RecordMeta, &Map<String, Value>, age::x25519::Recipient)> =
            Vec::new();
        // A client's newest open case, once per client and batch: this batch's cases are all
        // inserted above and none closes below, so the answer cannot change meanwhile.
        let mut client_cases: HashMap<&str, i64> = HashMap::new();
        for (n, item) in items {
            let Item::Record {
                client,
                case,
                kind,
                tier,
                fields,
            } = item
            else {
                continue;
            };
            let case_id = match (client.as_deref(), *case) {
                (Some(key), None) => match client_cases.get(key) {
                    Some(&id) => id,
                    None => {
                        let id = resolve_case(&tx, *n, Some(key), None)?;
                        client_cases.insert(key, id);
                        id
                    }
                },
                (client, case) => resolve_case(&tx, *n, client, case)?,
            };
            if !all_cases && !self.verified_assignment(&tx, case_id, &me)? {
                return Err(line_err(
                    *n,
                    Error::NotAssigned {
                        case: case_id.to_string(),
                    },
                ));
            }
            let tier = resolve_tier(policy, kind, *tier, may_lower).map_err(|e| line_err(*n, e))?;
            // Content is checked against the template in the parallel step below.
            let epoch = match epochs.get(&case_id) {
                Some(e) => *e,
                None => {
                    let e = self.epoch_for_write(&tx, case_id)?;
                    epochs.insert(case_id, e);
                    e
                }
            };
            let recipient = match recipients.get(&(case_id, epoch, tier)) {
                Some(r) => r.clone(),
                None => {
                    let r = self.tier_recipient(&tx, case_id, epoch, tier)?;
                    recipients.insert((case_id, epoch, tier), r.clone());
                    r
                }
            };
            let meta = RecordMeta {
                id: next_id,
                case_id,
                kind: kind.clone(),
                tier,
                author: me.clone(),
                created_at: at,
                amends: None,
                epoch,
            };
            next_id += 1;
            jobs.push((*n, meta, fields, recipient));
        }
        let sealed: Vec<Result<(Vec<u8>, Vec<u8>)>> = jobs
            .par_iter()
            .map(|(n, m, f, r)| {
                policy
                    .validate_content(&m.kind, &Value::Object((*f).clone()))
                    .map_err(|e| line_err(*n, e))?;
                seal_record(m, f, &[], r, &signer)
            })
            .collect();
        let sealed = sealed.into_iter().collect::<Result<Vec<_>>>()?;
        for ((_, meta, _, _), (body, sig)) in jobs.iter().zip(&sealed) {
            store::records::insert(&tx, meta, body, sig)?;
        }
        let batch: Vec<(&RecordMeta, &[u8])> = jobs
            .iter()
            .zip(&sealed)
            .map(|((_, m, _, _), (_, sig))| (m, sig.as_slice()))
            .collect();
        self.commit_records(&tx, &batch)?;
        report.records += jobs.len() as u64;

        tx.execute(
            "DELETE FROM imports WHERE file_sha256 = ?1",
            [&prefixes.0[..]],
        )?;
        tx.execute(
            "INSERT OR REPLACE INTO imports(file_sha256, lines_done, batches) VALUES (?1, ?2, 1)",
            params![&prefixes.1[..], last_line],
        )?;
        tx.commit()?;
        Ok(())
    }
}

/// Where a batch starts, and how to recompute the file's committed progress.
struct Resume<'a> {
    /// Lines before the batch.
    start: u64,
    /// Lines in the file.
    lines: usize,
    /// SHA-256 of the file's first `n` lines.
    prefix: &'a dyn Fn(u64) -> [u8; 32],
}

/// Lines of this file already imported: the longest earlier import whose committed prefix is
/// byte-identical to this file's first lines (so fixing a later bad line still resumes).
fn resume_point(conn: &Connection, lines: usize, prefix: &dyn Fn(u64) -> [u8; 32]) -> Result<u64> {
    let mut st = conn.prepare("SELECT file_sha256, lines_done FROM imports")?;
    let rows: Vec<(Vec<u8>, u64)> = st
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(rows
        .into_iter()
        .filter(|(h, n)| *n as usize <= lines && h.as_slice() == prefix(*n))
        .map(|(_, n)| n)
        .max()
        .unwrap_or(0))
}

/// The case a record line names: an explicit case id, or the client's newest open case.
fn resolve_case(
    conn: &Connection,
    line: u64,
    client: Option<&str>,
    case: Option<i64>,
) -> Result<i64> {
    if let Some(id) = case {
        return store::cases::get(conn, id)?.map(|c| c.id).ok_or_else(|| {
            line_err(
                line,
                Error::NotFound {
                    what: "case",
                    id: id.to_string(),
                },
            )
        });
    }
    let key = client.ok_or_else(|| line_err(line, tr!("vault.import_record_needs_case")))?;
    let c = store::clients::find(conn, key)?
        .ok_or_else(|| line_err(line, tr!("vault.import_no_client", client = key)))?;
    store::cases::list(conn, Some(c.id), None)?
        .into_iter()
        .rev()
        .find(|k| k.stage != Stage::Closed)
        .map(|k| k.id)
        .ok_or_else(|| line_err(line, tr!("vault.import_no_open_case", client = key)))
}

fn line_of(data: &[u8], offset: usize) -> u64 {
    data[..offset].iter().filter(|&&b| b == b'\n').count() as u64 + 1
}

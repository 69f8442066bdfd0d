//! The access package's plaintext: a ustar archive of `package.json` (for machines) and
//! `document.md` (for the client, in Chinese and English). Format in `docs/requests.md`.

use serde::Serialize;
use serde_json::{json, Map, Value};

// UTC: a resend rebuilds the package byte for byte, whatever the agency's zone is then.
use crate::domain::time::{format_time_utc as format_time, Date};
use crate::domain::{Case, Client, RecordMeta, Request, Withheld};
use crate::error::{Error, Result};
use crate::i18n::{text_in, Lang};
use crate::packet::ustar;
use crate::policy::Policy;

/// The format tag in `package.json`.
pub const FORMAT: &str = "casevault-access-package/1";

/// A record the client may see, decrypted.
pub struct PackageRecord {
    pub meta: RecordMeta,
    pub fields: Map<String, Value>,
}

/// One line of the accounting of disclosures.
#[derive(Clone, Debug, Serialize)]
pub struct Disclosure {
    pub log_index: u64,
    pub time: i64,
    pub date: String,
    pub kind: String,
    pub recipient: String,
    pub description: String,
    pub purpose: String,
    pub basis: String,
    /// The packet that carried it (referrals, partner answers, correction notices).
    pub packet_id: Option<String>,
    /// What went out, so a guardian can tell what went to whom.
    pub records: Vec<DisclosedRecord>,
}

/// A record in a disclosure, as the accounting lists it (no content).
#[derive(Clone, Debug, Serialize)]
pub struct DisclosedRecord {
    pub id: i64,
    pub kind: String,
    pub kind_zh: String,
    pub kind_en: String,
    /// `None`: the record is no longer held (purged after its retention period).
    pub tier: Option<u8>,
    /// The record's date (`YYYY-MM-DD`).
    pub date: Option<String>,
}

impl Disclosure {
    /// What was disclosed, in words: each record as "kind (tier N, date)" and the packet id;
    /// the log entry's own detail when the disclosure sent no packet (an access package).
    fn what(&self, t: &dyn Fn(&str) -> String) -> String {
        if self.records.is_empty() {
            return format!("{}: {}", self.kind, self.description);
        }
        let items: Vec<String> = self
            .records
            .iter()
            .map(|r| {
                let mut s = format!("{} / {} #{}", r.kind_zh, r.kind_en, r.id);
                if let (Some(tier), Some(date)) = (r.tier, &r.date) {
                    s.push_str(&format!(" ({} {tier}, {date})", t("requests.doc.tier")));
                }
                s
            })
            .collect();
        let mut s = items.join("; ");
        if let Some(p) = &self.packet_id {
            s.push_str(&format!(" — {} {p}", t("requests.doc.packet")));
        }
        s
    }
}

/// Everything the package is built from.
pub struct PackageInput<'a> {
    pub agency: String,
    pub request: &'a Request,
    pub client: &'a Client,
    pub cases: &'a [Case],
    pub records: &'a [PackageRecord],
    pub withheld: &'a [Withheld],
    pub disclosures: &'a [Disclosure],
    pub lookback_years: u32,
    pub lookback_from: Date,
    pub generated_at: i64,
    pub policy: &'a Policy,
}

fn both(key: &str) -> Value {
    json!({ "zh": text_in(Lang::Zh, key, &[]), "en": text_in(Lang::En, key, &[]) })
}

fn pair(v: &Value) -> (String, String) {
    (
        v["zh"].as_str().unwrap_or_default().to_string(),
        v["en"].as_str().unwrap_or_default().to_string(),
    )
}

const PURPOSES: [&str; 3] = [
    "requests.doc.purpose.service",
    "requests.doc.purpose.duty",
    "requests.doc.purpose.referral",
];

/// The categories of personal data held: the register's groups that are filled in, then
/// one per record kind held (seen or withheld).
fn categories(inp: &PackageInput) -> Vec<Value> {
    let c = &inp.client.data;
    let mut out = vec![both("requests.doc.cat.identity")];
    if !c.phone.is_empty() || !c.address.is_empty() {
        out.push(both("requests.doc.cat.contact"));
    }
    if !c.guardians.is_empty() {
        out.push(both("requests.doc.cat.guardians"));
    }
    out.push(both("requests.doc.cat.assessment"));
    for kind in kinds_held(inp) {
        if let Some(t) = inp.policy.template(&kind) {
            out.push(json!({ "zh": t.label_zh, "en": t.label_en, "kind": kind }));
        }
    }
    out
}

fn kinds_held(inp: &PackageInput) -> Vec<String> {
    let mut k: Vec<String> = inp
        .records
        .iter()
        .map(|r| r.meta.kind.clone())
        .chain(inp.withheld.iter().map(|w| w.kind.clone()))
        .collect();
    k.sort();
    k.dedup();
    k
}

fn package_json(inp: &PackageInput) -> Value {
    let c = inp.client;
    let records: Vec<Value> = inp
        .records
        .iter()
        .map(|r| {
            let (kz, ke) = inp
                .policy
                .template(&r.meta.kind)
                .map(|t| (t.label_zh.clone(), t.label_en.clone()))
                .unwrap_or_default();
            let tier = inp.policy.tier(r.meta.tier);
            json!({
                "id": r.meta.id,
                "case_id": r.meta.case_id,
                "kind": r.meta.kind,
                "kind_label": { "zh": kz, "en": ke },
                "tier": r.meta.tier,
                "tier_name": tier.map(|t| t.name.clone()).unwrap_or_default(),
                "author": r.meta.author,
                "created_at": format_time(r.meta.created_at),
                "amends": r.meta.amends,
                "fields": r.fields,
            })
        })
        .collect();
    let recipients: Vec<String> = {
        let mut v: Vec<String> = inp
            .disclosures
            .iter()
            .map(|d| d.recipient.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let retention: Vec<Value> = kinds_held(inp)
        .into_iter()
        .filter_map(|k| inp.policy.template(&k).map(|t| (k, t)))
        .map(|(k, t)| {
            json!({ "kind": k, "label": { "zh": t.label_zh, "en": t.label_en },
                    "years_after_case_closes": t.retention_years })
        })
        .collect();
    let sources: Vec<Value> = inp
        .cases
        .iter()
        .map(|case| {
            let (zh, en) = source_labels(case);
            json!({ "case_id": case.id, "source": case.source.code(),
                    "label": { "zh": zh, "en": en }, "opened": format_time(case.opened_at) })
        })
        .collect();
    json!({
        "format": super::access_package::FORMAT,
        "agency": inp.agency,
        "generated_at": format_time(inp.generated_at),
        "request": {
            "id": inp.request.id,
            "kind": inp.request.kind.code(),
            "requester": inp.request.requester,
            "authority": inp.request.authority.code(),
            "received": inp.request.received,
            "due": inp.request.due,
        },
        "client": {
            "number": c.data.number,
            "name": c.data.name,
            "birth_date": c.data.birth_date,
            "gender": c.data.gender,
            "phone": c.data.phone,
            "address": c.data.address,
            "id_number": c.data.id_number,
            "guardians": c.data.guardians,
            "risk": c.data.risk,
            "category": c.data.category,
            "registered": format_time(c.created_at),
        },
        "records": records,
        "purposes": PURPOSES.iter().map(|k| both(k)).collect::<Vec<_>>(),
        "categories": categories(inp),
        "recipients": recipients,
        "disclosures": {
            "lookback_years": inp.lookback_years,
            "from": inp.lookback_from,
            "entries": inp.disclosures,
        },
        "retention": retention,
        "sources": sources,
        "rights": both("requests.doc.rights"),
        "complaints": both("requests.doc.complaints"),
        "withheld": inp.withheld,
    })
}

fn source_labels(case: &Case) -> (String, String) {
    // Labels are per language; the enum gives the current one, so map codes here.
    let code = case.source.code();
    let key = format!("requests.doc.source.{code}");
    let zh = text_in(Lang::Zh, &key, &[]);
    let en = text_in(Lang::En, &key, &[]);
    (zh, en)
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn document(inp: &PackageInput, j: &Value) -> String {
    let t = |k: &str| -> String {
        format!(
            "{} / {}",
            text_in(Lang::Zh, k, &[]),
            text_in(Lang::En, k, &[])
        )
    };
    let mut d = String::new();
    let c = &inp.client.data;
    d.push_str(&format!("# {}\n\n", t("requests.doc.title")));
    d.push_str(&format!(
        "- {}: {}\n- {}: {} ({})\n- {}: {}\n- {}: {}\n\n",
        t("requests.doc.agency"),
        inp.agency,
        t("requests.doc.request"),
        inp.request.id,
        inp.request.received,
        t("requests.doc.requester"),
        inp.request.requester,
        t("requests.doc.generated"),
        format_time(inp.generated_at)
    ));

    d.push_str(&format!("## 1. {}\n\n", t("requests.doc.h.personal")));
    let guardians: Vec<String> = c
        .guardians
        .iter()
        .map(|g| format!("{} ({})", g.name, g.relation))
        .collect();
    for (k, v) in [
        ("requests.doc.f.number", c.number.clone()),
        ("requests.doc.f.name", c.name.clone()),
        (
            "requests.doc.f.birth_date",
            c.birth_date.map(|b| b.to_string()).unwrap_or("-".into()),
        ),
        ("requests.doc.f.gender", c.gender.code().to_string()),
        ("requests.doc.f.phone", c.phone.clone()),
        ("requests.doc.f.address", c.address.clone()),
        ("requests.doc.f.id_number", c.id_number.clone()),
        ("requests.doc.f.guardians", guardians.join("; ")),
        ("requests.doc.f.risk", c.risk.code().to_string()),
        ("requests.doc.f.category", c.category.code().to_string()),
    ] {
        d.push_str(&format!(
            "- {}: {}\n",
            t(k),
            if v.is_empty() { "-".into() } else { v }
        ));
    }
    d.push('\n');

    d.push_str(&format!("## 2. {}\n\n", t("requests.doc.h.records")));
    if inp.records.is_empty() {
        d.push_str(&format!("{}\n\n", t("requests.doc.none")));
    }
    for r in inp.records {
        let tpl = inp.policy.template(&r.meta.kind);
        let label = tpl
            .map(|t| format!("{} / {}", t.label_zh, t.label_en))
            .unwrap_or_else(|| r.meta.kind.clone());
        d.push_str(&format!(
            "### #{} {} ({})\n\n",
            r.meta.id,
            label,
            format_time(r.meta.created_at)
        ));
        if let Some(a) = r.meta.amends {
            d.push_str(&format!("- {}: #{a}\n", t("requests.doc.amends")));
        }
        for (k, v) in &r.fields {
            let fl = tpl
                .and_then(|t| t.field(k))
                .map(|f| format!("{} / {}", f.label_zh, f.label_en))
                .unwrap_or_else(|| k.clone());
            d.push_str(&format!("- {fl}: {}\n", value_text(v)));
        }
        d.push('\n');
    }

    d.push_str(&format!("## 3. {}\n\n", t("requests.doc.h.purposes")));
    for p in j["purposes"].as_array().into_iter().flatten() {
        let (zh, en) = pair(p);
        d.push_str(&format!("- {zh} / {en}\n"));
    }
    d.push_str(&format!("\n## 4. {}\n\n", t("requests.doc.h.categories")));
    for p in j["categories"].as_array().into_iter().flatten() {
        let (zh, en) = pair(p);
        d.push_str(&format!("- {zh} / {en}\n"));
    }

    d.push_str(&format!(
        "\n## 5. {}\n\n{} {} ({} {})\n\n",
        t("requests.doc.h.disclosures"),
        t("requests.doc.lookback"),
        inp.lookback_from,
        inp.lookback_years,
        t("requests.doc.years")
    ));
    if inp.disclosures.is_empty() {
        d.push_str(&format!("{}\n", t("requests.doc.none")));
    } else {
        d.push_str(&format!(
            "| {} | {} | {} | {} |\n|---|---|---|---|\n",
            t("requests.doc.col.date"),
            t("requests.doc.col.recipient"),
            t("requests.doc.col.description"),
            t("requests.doc.col.purpose")
        ));
        for x in inp.disclosures {
            d.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                x.date,
                x.recipient,
                x.what(&t),
                x.purpose
            ));
        }
    }

    d.push_str(&format!("\n## 6. {}\n\n", t("requests.doc.h.retention")));
    for r in j["retention"].as_array().into_iter().flatten() {
        let (zh, en) = pair(&r["label"]);
        d.push_str(&format!(
            "- {zh} / {en}: {} {}\n",
            r["years_after_case_closes"],
            t("requests.doc.years_after_close")
        ));
    }
    d.push_str(&format!("\n## 7. {}\n\n", t("requests.doc.h.sources")));
    for s in j["sources"].as_array().into_iter().flatten() {
        let (zh, en) = pair(&s["label"]);
        d.push_str(&format!(
            "- {} {}: {zh} / {en} ({})\n",
            t("requests.doc.case"),
            s["case_id"],
            s["opened"].as_str().unwrap_or_default()
        ));
    }
    d.push_str(&format!("- {}\n", t("requests.doc.source.staff")));

    d.push_str(&format!("\n## 8. {}\n\n", t("requests.doc.h.withheld")));
    if inp.withheld.is_empty() {
        d.push_str(&format!("{}\n", t("requests.doc.none")));
    }
    for w in inp.withheld {
        d.push_str(&format!(
            "- #{} ({}): {} / {}\n",
            w.record_id, w.kind, w.reason_zh, w.reason_en
        ));
    }

    d.push_str(&format!("\n## 9. {}\n\n", t("requests.doc.h.rights")));
    let (zh, en) = pair(&j["rights"]);
    d.push_str(&format!("{zh}\n\n{en}\n\n"));
    let (zh, en) = pair(&j["complaints"]);
    d.push_str(&format!("{zh}\n\n{en}\n"));
    d
}

/// The package plaintext (a ustar archive).
pub fn build(inp: &PackageInput) -> Result<Vec<u8>> {
    let j = package_json(inp);
    let json = serde_json::to_vec_pretty(&j).map_err(|e| Error::Invalid(e.to_string()))?;
    let doc = document(inp, &j);
    let entries = [
        ustar::Entry {
            name: "package.json",
            dir: false,
            data: &json,
        },
        ustar::Entry {
            name: "document.md",
            dir: false,
            data: doc.as_bytes(),
        },
    ];
    Ok(ustar::write(&entries, inp.generated_at.max(0) as u64)?)
}

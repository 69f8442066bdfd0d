//! `records.md`: the packet as a document a partner can read after `tar -x`, without casevault.
//! Headings are bilingual; values are escaped so record text cannot forge headings.

use std::fmt::Write;

use serde_json::Value;

use super::manifest::{Expiry, Manifest, PacketRecord};

/// Escapes Markdown punctuation in one line of user text.
fn inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '*' | '_' | '#' | '<' | '>' | '[' | ']' | '`' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '\r' | '\n' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// Writes a JSON value as nested list items at `depth` (two spaces per level).
fn value(out: &mut String, label: &str, v: &Value, depth: usize) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Object(map) => {
            let _ = writeln!(out, "{pad}- **{}**:", inline(label));
            for (k, v) in map {
                value(out, k, v, depth + 1);
            }
        }
        Value::Array(items) => {
            let _ = writeln!(out, "{pad}- **{}**:", inline(label));
            for (i, v) in items.iter().enumerate() {
                value(out, &(i + 1).to_string(), v, depth + 1);
            }
        }
        Value::String(s) if s.contains('\n') => {
            let _ = writeln!(out, "{pad}- **{}**:", inline(label));
            for line in s.lines() {
                let _ = writeln!(out, "{pad}  > {}", inline(line));
            }
        }
        Value::String(s) => {
            let _ = writeln!(out, "{pad}- **{}**: {}", inline(label), inline(s));
        }
        other => {
            let _ = writeln!(out, "{pad}- **{}**: {}", inline(label), other);
        }
    }
}

/// The document for `manifest` (its receipt is not shown: the document is hashed into the
/// manifest before the receipt exists) and `records`.
pub(crate) fn render(m: &Manifest, records: &[PacketRecord]) -> String {
    let mut o = String::new();
    let c = &m.consent;
    let _ = writeln!(o, "# 转介资料包 Referral packet\n");
    for (k, v) in [
        ("资料包编号 Packet ID", m.packet_id.as_str()),
        ("创建时间 Created", &m.created),
        ("发送机构 Sender", &m.sender.name),
        ("发送方签名密钥 Sender key (minisign)", &m.sender.key_id),
        ("接收机构 Recipient", &m.recipient.name),
        ("转介目的 Purpose", &m.purpose),
    ] {
        let _ = writeln!(o, "- **{k}**: {}", inline(v));
    }
    let _ = writeln!(o, "\n## 同意书摘要 Consent summary\n");
    let expires = match &c.expires {
        Expiry::Date(d) => d.clone(),
        Expiry::Event(e) => e.clone(),
    };
    let separate = if c.separate_consent {
        "是 yes"
    } else {
        "否 no"
    };
    for (k, v) in [
        ("同意书编号 Consent ID", c.consent_id.as_str()),
        ("签署人 Signer", &c.signer.name),
        ("签署人身份 Signer role", &c.signer.role),
        ("授权依据 Authority", &c.signer.authority),
        ("信息范围 Information", &c.scope.description),
        ("记录类型 Record kinds", &c.scope.kinds.join(", ")),
        ("保密级别 Tiers", &c.scope.tiers.join(", ")),
        ("单独同意 Separate consent", separate),
        ("签署日期 Signed on", &c.signed_on),
        ("有效期至 Expires", &expires),
        ("撤回方式 How to revoke", &c.revoke),
    ] {
        let _ = writeln!(o, "- **{k}**: {}", inline(v));
    }
    let _ = writeln!(o, "\n## 再披露告知 Redisclosure notice\n");
    for line in m.redisclosure_notice.lines() {
        let _ = writeln!(o, "> {}", inline(line));
    }
    let _ = writeln!(o, "\n## 记录 Records ({})\n", records.len());
    for (i, (r, entry)) in records.iter().zip(&m.records).enumerate() {
        let _ = writeln!(o, "### {}. {}\n", i + 1, inline(&r.kind_label));
        for (k, v) in [
            ("记录编号 Record ID", r.id.as_str()),
            ("类型 Kind", &r.kind),
            ("保密级别 Tier", &r.tier),
            ("时间 Time", &r.created),
            ("记录人 Author", &r.author),
            ("修订自 Amends", r.amends.as_deref().unwrap_or("-")),
            ("SHA-256", &entry.sha256),
        ] {
            let _ = writeln!(o, "- **{k}**: {}", inline(v));
        }
        let _ = writeln!(o, "\n#### 内容 Content\n");
        match &r.content {
            Value::Object(map) => map.iter().for_each(|(k, v)| value(&mut o, k, v, 0)),
            other => value(&mut o, "content", other, 0),
        }
        o.push('\n');
    }
    let _ = writeln!(o, "## 附件 Attachments ({})\n", m.attachments.len());
    if !m.attachments.is_empty() {
        let _ = writeln!(o, "| 文件 File | 字节 Bytes | SHA-256 |\n|---|---|---|");
        for a in &m.attachments {
            let _ = writeln!(
                o,
                "| attachments/{} | {} | {} |",
                inline(&a.name),
                a.size,
                a.sha256
            );
        }
    }
    o
}

//! Fictional packet input shared by the packet tests and the benchmark.
#![allow(dead_code)]

use casevault::packet::{
    Attachment, ConsentScope, ConsentSigner, ConsentSummary, Expiry, PacketInput, PacketRecord,
    Receipt,
};
use ed25519_dalek::SigningKey;
use serde_json::json;

/// The sending agency's key (fixed, so runs are reproducible).
pub fn sender_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// One fictional process record of roughly 1 KiB of JSON.
pub fn record(i: usize) -> PacketRecord {
    PacketRecord {
        id: format!("R-2026-{i:05}"),
        kind: "process_record".into(),
        kind_label: "过程记录表 Process record".into(),
        tier: "confidential".into(),
        created: "2026-10-01T09:30:00Z".into(),
        author: "王小明 Wang Xiaoming".into(),
        amends: None,
        content: json!({
            "session": i + 1,
            "place": "社区服务站 community office",
            "aim": "了解近况，讨论就业计划。Check in and discuss the job plan.",
            "process": "服务对象谈到最近睡眠不好，担心找工作的事。社工回应并一起列出下一步。\nThe client said sleep has been poor and job worries continue; we listed next steps together.".repeat(3),
            "findings": "需要持续跟进 follow-up needed",
            "next_plan": "下周二上午再次面谈 meet again next Tuesday morning",
        }),
    }
}

/// A referral with `n` records and one attachment of `attachment_bytes` pseudo-random bytes.
pub fn input(n: usize, attachment_bytes: usize) -> PacketInput {
    let mut attachments = Vec::new();
    if attachment_bytes > 0 {
        let mut x: u32 = 0x1234_5678;
        let bytes = (0..attachment_bytes)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        attachments.push(Attachment {
            name: "转介同意书扫描 consent-scan.pdf".into(),
            bytes,
        });
        attachments.push(Attachment {
            name: "a-note.txt".into(),
            bytes: b"fictional note\n".to_vec(),
        });
    }
    PacketInput {
        created_unix: 1_795_463_560,
        sender_name: "阳光社工服务中心 Sunshine Social Work Centre".into(),
        recipient_name: "绿洲青少年中心 Oasis Youth Centre".into(),
        purpose: "转介就业支持服务 referral for employment support".into(),
        consent: ConsentSummary {
            consent_id: "C-2026-0042".into(),
            signer: ConsentSigner {
                role: "client".into(),
                name: "李雷 Li Lei".into(),
                authority: "本人 self".into(),
            },
            scope: ConsentScope {
                kinds: vec!["intake".into(), "process_record".into()],
                tiers: vec!["general".into(), "confidential".into()],
                description: "接案记录与过程记录 intake and process records".into(),
            },
            separate_consent: false,
            signed_on: "2026-09-30".into(),
            expires: Expiry::Date("2027-03-31".into()),
            revoke: "致电 010-0000-0000 或书面通知 call 010-0000-0000 or write to the centre".into(),
        },
        redisclosure_notice: "未经服务对象另行书面同意，不得向第三方披露。\nDo not disclose to any third party without the client's further written consent.".into(),
        records: (0..n).map(record).collect(),
        attachments,
        receipt: Some(receipt()),
    }
}

/// A fictional log receipt.
pub fn receipt() -> Receipt {
    let checkpoint = "casevault.example/log\n17\nq2F0LWZpY3Rpb25hbC1yb290LWJhc2U2NC0wMDAwMDA=\n\n— casevault.example/log AAAAAfakeSignature==\n";
    Receipt {
        entry_index: 16,
        checkpoint: checkpoint.into(),
        body: json!({
            "entry_index": 16,
            "checkpoint": checkpoint,
            "inclusion_proof": ["3q2+7w==", "AAECAw=="],
        }),
    }
}

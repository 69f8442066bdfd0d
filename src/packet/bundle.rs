//! The bundle: the tar that age encrypts, in a fixed layout so `tar -x` after `age -d` gives a
//! partner everything, and our reader refuses anything else.
//!
//! Entries, in this order: `manifest.json`, `records.json`, `records.md`, `receipt.json`, then
//! only if there are attachments the directory `attachments/` and `attachments/<name>` for each,
//! sorted by name bytes.

use zeroize::Zeroizing;

use super::manifest::{check_attachment_name, ATTACHMENTS_DIR};
use super::ustar::{self, Entry};
use super::{
    PacketError, Part, MAX_ATTACHMENTS, MAX_ATTACHMENT_BYTES, MAX_BUNDLE_BYTES, MAX_MANIFEST_BYTES,
    MAX_RECEIPT_BYTES,
};

const FIXED: [&str; 4] = [
    "manifest.json",
    "records.json",
    "records.md",
    "receipt.json",
];

/// The files of a bundle, as raw bytes. Plaintext buffers are wiped when dropped.
#[derive(Debug, Default)]
pub struct Bundle {
    pub manifest: Vec<u8>,
    pub records_json: Zeroizing<Vec<u8>>,
    pub records_md: Zeroizing<Vec<u8>>,
    pub receipt: Vec<u8>,
    /// `(name, bytes)` sorted by name bytes, names unique.
    pub attachments: Vec<(String, Zeroizing<Vec<u8>>)>,
}

/// Writes the bundle tar with every entry's mtime set to `mtime` (the packet's creation time).
pub(crate) fn write_bundle(
    manifest: &[u8],
    records_json: &[u8],
    records_md: &[u8],
    receipt: &[u8],
    attachments: &[(&str, &[u8])],
    mtime: u64,
) -> Result<Zeroizing<Vec<u8>>, PacketError> {
    let names: Vec<String> = attachments
        .iter()
        .map(|(n, _)| format!("{ATTACHMENTS_DIR}{n}"))
        .collect();
    let mut entries = vec![
        Entry {
            name: FIXED[0],
            dir: false,
            data: manifest,
        },
        Entry {
            name: FIXED[1],
            dir: false,
            data: records_json,
        },
        Entry {
            name: FIXED[2],
            dir: false,
            data: records_md,
        },
        Entry {
            name: FIXED[3],
            dir: false,
            data: receipt,
        },
    ];
    if !attachments.is_empty() {
        entries.push(Entry {
            name: ATTACHMENTS_DIR,
            dir: true,
            data: b"",
        });
    }
    for (name, (_, data)) in names.iter().zip(attachments) {
        entries.push(Entry {
            name,
            dir: false,
            data,
        });
    }
    let tar = Zeroizing::new(ustar::write(&entries, mtime)?);
    if tar.len() > MAX_BUNDLE_BYTES {
        return Err(PacketError::invalid("packet too large"));
    }
    Ok(tar)
}

/// Parses a bundle tar: the exact layout above, sizes bounded, attachment names valid. It
/// does not look inside the files; [`open`](super::open) checks them against the manifest.
/// Returns the bundle and the entries' common mtime.
pub fn parse_bundle(bytes: &[u8]) -> Result<(Bundle, u64), PacketError> {
    let bad = |d: &str| PacketError::malformed(Part::Bundle, d);
    if bytes.len() > MAX_BUNDLE_BYTES {
        return Err(bad("too large"));
    }
    let (entries, mtime) = ustar::read(bytes, FIXED.len() + 1 + MAX_ATTACHMENTS)?;
    if entries.len() < FIXED.len() {
        return Err(bad("missing entries"));
    }
    for (e, name) in entries.iter().zip(FIXED) {
        if e.name != name || e.dir {
            return Err(bad(
                "entries are not manifest.json, records.json, records.md, receipt.json",
            ));
        }
    }
    if entries[0].data.len() > MAX_MANIFEST_BYTES || entries[3].data.len() > MAX_RECEIPT_BYTES {
        return Err(bad("manifest or receipt too large"));
    }
    let mut bundle = Bundle {
        manifest: entries[0].data.to_vec(),
        records_json: Zeroizing::new(entries[1].data.to_vec()),
        records_md: Zeroizing::new(entries[2].data.to_vec()),
        receipt: entries[3].data.to_vec(),
        attachments: Vec::new(),
    };
    let rest = &entries[FIXED.len()..];
    if let Some((dir, files)) = rest.split_first() {
        if dir.name != ATTACHMENTS_DIR || !dir.dir || files.is_empty() {
            return Err(bad(
                "after receipt.json only attachments/ and its files may follow",
            ));
        }
        for (i, e) in files.iter().enumerate() {
            let name = e
                .name
                .strip_prefix(ATTACHMENTS_DIR)
                .filter(|_| !e.dir)
                .ok_or_else(|| bad("unexpected entry after attachments/"))?;
            check_attachment_name(name)
                .map_err(|_| bad(&format!("attachment #{} has a forbidden name", i + 1)))?;
            if let Some((prev, _)) = bundle.attachments.last() {
                if prev.as_bytes() >= name.as_bytes() {
                    return Err(bad("attachments not sorted or duplicated"));
                }
            }
            if e.data.len() > MAX_ATTACHMENT_BYTES {
                return Err(bad(&format!("attachment #{} too large", i + 1)));
            }
            bundle
                .attachments
                .push((name.to_string(), Zeroizing::new(e.data.to_vec())));
        }
    }
    Ok((bundle, mtime))
}

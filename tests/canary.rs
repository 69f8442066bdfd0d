//! No plaintext client data on disk: write canaries, then search every byte of the vault
//! directory and the temporary directory, as UTF-8, UTF-16 (LE and BE) and base64.

mod common;

use base64::Engine;
use common::*;

fn forms(s: &str) -> Vec<(String, Vec<u8>)> {
    let le: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    let be: Vec<u8> = s.encode_utf16().flat_map(|u| u.to_be_bytes()).collect();
    let mut v = vec![
        ("utf8".into(), s.as_bytes().to_vec()),
        ("utf16le".into(), le),
        ("utf16be".into(), be),
    ];
    // base64 of the string at each of the three alignments, minus the edge characters.
    for shift in 0..3 {
        let mut padded = vec![b'x'; shift];
        padded.extend_from_slice(s.as_bytes());
        let enc = base64::engine::general_purpose::STANDARD.encode(&padded);
        let start = (shift * 4).div_ceil(3) + 1;
        let end = enc.len().saturating_sub(4);
        if end > start + 8 {
            v.push((
                format!("base64/{shift}"),
                enc.as_bytes()[start..end].to_vec(),
            ));
        }
    }
    v
}

fn scan(dir: &std::path::Path, needles: &[(String, String, Vec<u8>)], hits: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            scan(&path, needles, hits);
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for (what, form, n) in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_slice()) {
                hits.push(format!("{what} as {form} in {}", path.display()));
            }
        }
    }
}

#[test]
fn canaries_never_reach_disk() {
    let v = TestVault::new();
    let canary = "CANARY-7f3a9c-紫罗兰-unique";
    let name = "欧阳娜娜Canaryname";
    let id_number = "110101201503021234";
    v.run(
        "wang",
        &[
            "client",
            "add",
            "--number",
            "C777",
            "--name",
            name,
            "--id-number",
            id_number,
            "--birth-date",
            "2015-03-02",
        ],
    )
    .ok();
    let case = v
        .run("wang", &["--json", "case", "open", "C777"])
        .ok()
        .json()["id"]
        .as_i64()
        .unwrap();
    let id = v.process_note("wang", case, canary).ok().json()["id"]
        .as_i64()
        .unwrap();
    v.supervision_note("wang", case, canary).ok();
    // Reads, search and an import all happen too, so their paths are covered.
    assert!(v
        .run("wang", &["record", "show", &id.to_string()])
        .ok()
        .stdout
        .contains(canary));
    v.run("wang", &["client", "search", "欧阳"]).ok();
    let line = serde_json::json!({"type":"record","client":"C777","kind":"process",
        "fields":{"client_number":"C777","date":"2026-11-21","session_aim":"a","narrative":canary}});
    v.run_stdin("wang", &["import", "-"], &format!("{line}\n"))
        .ok();

    let mut needles = Vec::new();
    for (what, s) in [("canary", canary), ("name", name), ("id number", id_number)] {
        for (form, bytes) in forms(s) {
            needles.push((what.to_string(), form, bytes));
        }
    }
    // The scanner itself finds each form when it is there.
    let probe = v.tmp.path().join("probe");
    std::fs::create_dir_all(&probe).unwrap();
    for (i, (_, _, n)) in needles.iter().enumerate() {
        let mut bytes = b"xxxx".to_vec();
        bytes.extend_from_slice(n);
        std::fs::write(probe.join(i.to_string()), bytes).unwrap();
    }
    let mut found = Vec::new();
    scan(&probe, &needles, &mut found);
    assert!(
        found.len() >= needles.len(),
        "the scanner misses planted canaries"
    );

    let mut hits = Vec::new();
    scan(&v.dir, &needles, &mut hits);
    scan(&v.tmp.path().join("tmp"), &needles, &mut hits);
    assert!(hits.is_empty(), "plaintext found: {hits:#?}");
}

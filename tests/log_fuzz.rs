//! The entry decoder and the note parsers never panic, whatever the input.

use casevault::log::{self, Checkpoint, Entry, VerifierKey};
use proptest::prelude::*;

fn vkey() -> VerifierKey {
    VerifierKey::new(
        "o.example/log",
        ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    )
}

proptest! {
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Entry::decode(&bytes);
        let _ = log::split_stored(&bytes);
    }

    #[test]
    fn decoder_survives_mutations_of_valid_entries(pos in 0usize..200, val in any::<u8>(), cut in 0usize..200) {
        let e = Entry {
            index: 3, time: 1, kind: log::Kind::StaffRegistered { name: "n".into(), role: "admin".into(), key: [1; 32] },
            actor: "a".into(), client_mac: Some([2; 32]), case_mac: None, recipient: "r".into(), purpose: "p".into(),
            basis: log::LegalBasis::Emergency("x".into()), approver: None, disclosed_sha256: Some([3; 32]), detail: "d".into(),
        };
        let mut b = e.encode().unwrap();
        let p = pos % b.len();
        b[p] = val;
        if let Ok(d) = Entry::decode(&b) {
            // Whatever decodes re-encodes to the same bytes: one encoding per entry.
            prop_assert_eq!(d.encode().unwrap(), b.clone());
        }
        b.truncate(cut % (b.len() + 1));
        let _ = Entry::decode(&b);
    }

    #[test]
    fn note_parser_never_panics(text in "\\PC{0,200}", nl in 0usize..6) {
        let mut t = text.clone();
        for _ in 0..nl { t.push('\n'); }
        let _ = Checkpoint::parse_unverified(&t);
        let _ = Checkpoint::open(&t, &vkey());
        let _ = VerifierKey::parse(&t);
        let with_sig = format!("o.example/log\n1\n{t}\n\n\u{2014} o.example/log {t}\n");
        let _ = Checkpoint::open(&with_sig, &vkey());
    }

    #[test]
    fn note_parser_survives_mutations(pos in 0usize..400, val in any::<u8>()) {
        let cp = Checkpoint { origin: "o.example/log".into(), size: 5, root: [9; 32] };
        let note = cp.sign(&ed25519_dalek::SigningKey::from_bytes(&[7; 32]));
        let mut b = note.into_bytes();
        let p = pos % b.len();
        b[p] = val;
        if let Ok(s) = String::from_utf8(b) {
            let _ = Checkpoint::open(&s, &vkey());
        }
    }
}

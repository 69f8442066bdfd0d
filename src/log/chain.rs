//! The checkpoint key chain: which key may sign the log's checkpoints of which sizes.
//!
//! The checkpoint key is rotated (a new supervisor-key generation makes a new one). The
//! handover is one checkpoint note carrying two signatures under the same key name (the
//! origin): the current key's and the new key's. From that note's size on, the new key is
//! current; a checkpoint larger than that size signed only by the superseded key is refused
//! (a departed holder's copy signs nothing a verifier accepts). Every verifier — the vault's
//! append path and `log verify`, offline verification of an export, remembered state, partner
//! receipts and our witness — starts from the pinned (founding) verifier key and walks the
//! chain with [`KeyChain::walk`]; nothing else decides which key is current.
//!
//! Candidate keys (the new keys' public halves) come from wherever the verifier finds them
//! (the vault's `log_meta`, an export's `checkpoint-keys.txt`): they are untrusted, since only
//! a note the current key signed can make one current.

use ed25519_dalek::Signature;

use super::error::NoteError;
use super::note::{split_note, Checkpoint, VerifierKey};

/// One key of the chain and the checkpoint sizes it may sign.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Link {
    key: VerifierKey,
    /// The size of the handover note that made it current (0 for the pinned key).
    from: u64,
    /// The size of the handover note that superseded it (`None`: current).
    until: Option<u64>,
}

/// The walked chain of checkpoint keys of one log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChain {
    links: Vec<Link>,
}

impl KeyChain {
    /// A chain of the pinned key alone (no rotation seen).
    pub fn single(start: &VerifierKey) -> KeyChain {
        KeyChain {
            links: vec![Link {
                key: start.clone(),
                from: 0,
                until: None,
            }],
        }
    }

    /// Starts from `start` and follows the handover notes among `notes` (any order, any
    /// other notes ignored): a note signed by the current key and by a key of `candidates`
    /// with the same name makes that candidate current from the note's size on.
    pub fn walk<S: AsRef<str>>(
        start: &VerifierKey,
        candidates: &[VerifierKey],
        notes: &[S],
    ) -> KeyChain {
        let mut chain = KeyChain::single(start);
        let mut sized: Vec<(u64, &str)> = notes
            .iter()
            .filter_map(|n| {
                let n = n.as_ref();
                Checkpoint::parse_unverified(n).ok().map(|c| (c.size, n))
            })
            .collect();
        sized.sort_by_key(|s| s.0);
        for (_, note) in sized {
            chain.follow(note, candidates);
        }
        chain
    }

    /// One step of [`walk`](Self::walk): if `note` hands over from the current key to one of
    /// `candidates`, that key becomes current. Notes must come in size order.
    pub fn follow(&mut self, note: &str, candidates: &[VerifierKey]) -> bool {
        // Cheap filter first: a handover carries two signature lines under the key name.
        let Ok((_, sigs)) = split_note(note) else {
            return false;
        };
        let name = &self.current().name;
        if sigs.iter().filter(|s| s.name == name).count() < 2 {
            return false;
        }
        let Ok(cp) = Checkpoint::parse_unverified(note) else {
            return false;
        };
        let from = self.links[self.links.len() - 1].from;
        if cp.size < from {
            return false;
        }
        let mut candidates = candidates.to_vec();
        candidates.extend(super::note::named_next_keys(note, &cp.origin));
        match self.handover(note, &candidates) {
            Some(next) => {
                if let Some(last) = self.links.last_mut() {
                    last.until = Some(cp.size);
                }
                self.links.push(Link {
                    key: next,
                    from: cp.size,
                    until: None,
                });
                true
            }
            None => false,
        }
    }

    /// The candidate `note` hands over to, if it is signed by the current key and by it.
    fn handover(&self, note: &str, candidates: &[VerifierKey]) -> Option<VerifierKey> {
        let current = &self.current().clone();
        Checkpoint::open(note, current).ok()?;
        let (body, sigs) = split_note(note).ok()?;
        sigs.iter()
            .filter(|s| s.name == current.name && s.id != current.id)
            .find_map(|s| {
                let k = candidates
                    .iter()
                    .find(|c| c.name == current.name && c.id == s.id)?;
                // Never back to a key the chain already left (no cycles).
                if self.links.iter().any(|l| l.key == *k) {
                    return None;
                }
                let sig = Signature::from_slice(&s.sig).ok()?;
                k.key.verify_strict(body.as_bytes(), &sig).ok()?;
                Some(k.clone())
            })
    }

    /// The key that signs new checkpoints now.
    pub fn current(&self) -> &VerifierKey {
        // `links` is never empty: `single` makes the first.
        &self.links[self.links.len() - 1].key
    }

    /// The pinned key the walk started from.
    pub fn start(&self) -> &VerifierKey {
        &self.links[0].key
    }

    /// Every key of the chain, pinned key first.
    pub fn keys(&self) -> impl Iterator<Item = &VerifierKey> {
        self.links.iter().map(|l| &l.key)
    }

    /// The sizes of the handover notes, in order.
    pub fn rotations(&self) -> Vec<u64> {
        self.links.iter().skip(1).map(|l| l.from).collect()
    }

    /// Opens `note` with the key of its size: a key signs the sizes from the handover that
    /// made it current up to (and including) the one that superseded it. A note signed only
    /// by a key superseded before its size is [`NoteError::Superseded`].
    pub fn open(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let size = Checkpoint::parse_unverified(note)?.size;
        let mut first_err = None;
        let mut superseded = None;
        for link in self.links.iter().rev() {
            match Checkpoint::open(note, &link.key) {
                Ok(cp) => {
                    if size >= link.from && link.until.is_none_or(|u| size <= u) {
                        return Ok(cp);
                    }
                    if let Some(u) = link.until.filter(|u| size > *u) {
                        superseded.get_or_insert((u, link.key.encode()));
                    }
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        if let Some((at, key)) = superseded {
            return Err(NoteError::Superseded { key, at, size });
        }
        Err(first_err.unwrap_or_else(|| NoteError::NotSignedByKey(self.current().name.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    const O: &str = "o.example/log";

    fn k(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn vk(n: u8) -> VerifierKey {
        VerifierKey::new(O, k(n).verifying_key())
    }

    fn cp(size: u64) -> Checkpoint {
        Checkpoint {
            origin: O.into(),
            size,
            root: [size as u8; 32],
        }
    }

    #[test]
    fn follows_handover_and_refuses_superseded() {
        let hand = cp(5).sign_all(&[&k(1), &k(2)]);
        // A handover that names its new key needs no candidate list.
        let named = cp(5).sign_handover(&k(1), &k(2));
        assert_eq!(KeyChain::walk(&vk(1), &[], &[named]).current(), &vk(2));
        let chain = KeyChain::walk(&vk(1), &[vk(2)], std::slice::from_ref(&hand));
        assert_eq!(chain.current(), &vk(2));
        assert_eq!(chain.rotations(), vec![5]);
        assert!(chain.open(&cp(3).sign(&k(1))).is_ok());
        assert!(chain.open(&hand).is_ok());
        assert!(chain.open(&cp(7).sign(&k(2))).is_ok());
        assert!(matches!(
            chain.open(&cp(7).sign(&k(1))),
            Err(NoteError::Superseded { at: 5, size: 7, .. })
        ));
        assert!(chain.open(&cp(3).sign(&k(2))).is_err());
        // Without the candidate's key, or without the current key's signature: no handover.
        assert_eq!(KeyChain::walk(&vk(1), &[], &[hand]).current(), &vk(1));
        let forged = cp(5).sign_all(&[&k(3), &k(2)]);
        assert_eq!(
            KeyChain::walk(&vk(1), &[vk(2)], &[forged]).current(),
            &vk(1)
        );
    }
}

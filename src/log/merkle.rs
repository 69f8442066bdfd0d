//! RFC 6962 / RFC 9162 Merkle tree: hashes, proofs and their verifiers, plus the compact
//! "frontier" that lets the log compute each new root in O(log n).

use sha2::{Digest, Sha256};

/// A SHA-256 tree hash.
pub type Hash = [u8; 32];

/// SHA-256(0x00 ‖ data): the hash of one leaf.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// SHA-256(0x01 ‖ left ‖ right): the hash of an inner node.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// SHA-256(""): the root of the empty tree.
pub fn empty_root() -> Hash {
    Sha256::digest(b"").into()
}

/// The largest power of two strictly below `n` (n ≥ 2): RFC 6962's split point.
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    let mut f = Frontier::default();
    for l in leaves {
        f.push(*l);
    }
    f.root()
}

/// PATH(index, leaves): the audit path proving leaf `index` is in the tree of `leaves`.
/// Returns `None` when `index` is out of range.
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Option<Vec<Hash>> {
    let index = usize::try_from(index).ok()?;
    if index >= leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    path(index, leaves, &mut proof);
    Some(proof)
}

fn path(m: usize, d: &[Hash], out: &mut Vec<Hash>) {
    let n = d.len();
    if n <= 1 {
        return;
    }
    let k = split(n);
    if m < k {
        path(m, &d[..k], out);
        out.push(root(&d[k..]));
    } else {
        path(m - k, &d[k..], out);
        out.push(root(&d[..k]));
    }
}

/// PROOF(old_size, leaves): proves the tree of the first `old_size` leaves is a prefix of
/// the tree of all `leaves`. `None` when `old_size` exceeds the tree.
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Option<Vec<Hash>> {
    let m = usize::try_from(old_size).ok()?;
    if m > leaves.len() {
        return None;
    }
    let mut proof = Vec::new();
    if m > 0 && m < leaves.len() {
        subproof(m, leaves, true, &mut proof);
    }
    Some(proof)
}

fn subproof(m: usize, d: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = d.len();
    if m == n {
        if !complete {
            out.push(root(d));
        }
        return;
    }
    let k = split(n);
    if m <= k {
        subproof(m, &d[..k], complete, out);
        out.push(root(&d[k..]));
    } else {
        subproof(m - k, &d[k..], false, out);
        out.push(root(&d[..k]));
    }
}

/// PROOF(old.size(), leaves) computed from the old tree's frontier and only the leaves
/// appended since (`new_leaves`, from index `old.size()`): every node of an RFC 6962
/// consistency proof lies either wholly in the new leaves or is one of the old tree's
/// frontier subtrees, so a holder of the old frontier needs O(n − m) leaves, not the whole
/// log. The result is the same proof as [`consistency_proof`]; `None` only if `old` is not a
/// well-formed frontier.
pub fn consistency_proof_from(old: &Frontier, new_leaves: &[Hash]) -> Option<Vec<Hash>> {
    let m = old.size();
    let n = m.checked_add(new_leaves.len() as u64)?;
    let mut proof = Vec::new();
    if m == 0 || m == n {
        return Some(proof);
    }
    let old_nodes = old.levels();
    // MTH(D[a..b]): an old frontier subtree, or a range of the new leaves.
    let node = |a: u64, b: u64| -> Option<Hash> {
        if b <= m {
            old_nodes.iter().find_map(|&(level, hash)| {
                let low = if level >= 63 {
                    u64::MAX
                } else {
                    (1u64 << (level + 1)) - 1
                };
                let start = m & !low;
                (start == a && b - a == 1u64 << level).then_some(hash)
            })
        } else if a >= m {
            let from = usize::try_from(a - m).ok()?;
            let to = usize::try_from(b - m).ok()?;
            Some(root(new_leaves.get(from..to)?))
        } else {
            None
        }
    };
    // SUBPROOF over the subtree D[a..a+size], with the old tree ending inside it.
    fn sub(
        a: u64,
        size: u64,
        old_end: u64,
        complete: bool,
        node: &dyn Fn(u64, u64) -> Option<Hash>,
        out: &mut Vec<Hash>,
    ) -> Option<()> {
        let m = old_end - a;
        if m == size {
            if !complete {
                out.push(node(a, a + size)?);
            }
            return Some(());
        }
        let k = split(usize::try_from(size).ok()?) as u64;
        if m <= k {
            sub(a, k, old_end, complete, node, out)?;
            out.push(node(a + k, a + size)?);
        } else {
            sub(a + k, size - k, old_end, false, node, out)?;
            out.push(node(a, a + k)?);
        }
        Some(())
    }
    sub(0, n, m, true, &node, &mut proof)?;
    Some(proof)
}

/// RFC 9162 §2.1.3.2: does `proof` show `leaf` at `index` under `root` of a tree of `size`?
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `proof` show the tree (`old_size`, `old_root`) is a prefix of
/// (`new_size`, `new_root`)?
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    if proof.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old_size.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    fr == *old_root && sr == *new_root && snode == 0
}

/// The roots of the perfect subtrees that make up a tree of `size` leaves, largest first
/// (one per set bit of `size`). Enough to append a leaf and compute the new root in
/// O(log n) without reading old leaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    nodes: Vec<Hash>,
}

impl Frontier {
    /// Rebuilds a frontier from stored `(level, hash)` pairs; `None` unless the levels are
    /// exactly the set bits of `size`.
    pub fn from_levels(size: u64, mut levels: Vec<(u32, Hash)>) -> Option<Frontier> {
        levels.sort_by_key(|l| std::cmp::Reverse(l.0));
        let expected: Vec<u32> = (0..64).rev().filter(|b| size >> b & 1 == 1).collect();
        let got: Vec<u32> = levels.iter().map(|l| l.0).collect();
        (expected == got).then(|| Frontier {
            size,
            nodes: levels.into_iter().map(|l| l.1).collect(),
        })
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// `(level, hash)` pairs, largest subtree first, for storage.
    pub fn levels(&self) -> Vec<(u32, Hash)> {
        let bits = (0..64u32).rev().filter(|b| self.size >> b & 1 == 1);
        bits.zip(self.nodes.iter().copied()).collect()
    }

    /// Appends a leaf hash. Returns the inclusion proof of that leaf in the new tree: it is
    /// exactly the old frontier, smallest subtree first.
    pub fn push(&mut self, leaf: Hash) -> Vec<Hash> {
        let proof: Vec<Hash> = self.nodes.iter().rev().copied().collect();
        let mut h = leaf;
        let mut s = self.size;
        while s & 1 == 1 {
            // A set bit always has a node, so pop cannot fail; fall back defensively.
            let Some(left) = self.nodes.pop() else { break };
            h = node_hash(&left, &h);
            s >>= 1;
        }
        self.nodes.push(h);
        self.size += 1;
        proof
    }

    /// MTH of the leaves pushed so far.
    pub fn root(&self) -> Hash {
        let mut it = self.nodes.iter().rev();
        let Some(last) = it.next() else {
            return empty_root();
        };
        it.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consistency_from_frontier_matches_full_proof() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for n in 0..=leaves.len() {
            for m in 0..=n {
                let mut old = Frontier::default();
                for l in &leaves[..m] {
                    old.push(*l);
                }
                let got = consistency_proof_from(&old, &leaves[m..n]).unwrap();
                assert_eq!(Some(got.clone()), consistency_proof(&leaves[..n], m as u64));
                assert!(verify_consistency(
                    m as u64,
                    n as u64,
                    &old.root(),
                    &root(&leaves[..n]),
                    &got
                ));
            }
        }
    }

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn unhex(s: &str) -> Hash {
        let mut h = [0u8; 32];
        for (i, b) in h.iter_mut().enumerate() {
            *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        h
    }

    /// The certificate-transparency reference leaves.
    fn ct_leaves() -> Vec<Hash> {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        data.iter().map(|d| leaf_hash(d)).collect()
    }

    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    #[test]
    fn rfc6962_roots() {
        let l = ct_leaves();
        for n in 0..=8 {
            assert_eq!(hex(&root(&l[..n])), CT_ROOTS[n], "size {n}");
        }
        assert_eq!(hex(&empty_root()), CT_ROOTS[0]);
    }

    #[test]
    fn rfc6962_proof_vectors() {
        let l = ct_leaves();
        let root8 = unhex(CT_ROOTS[8]);
        let p0 = inclusion_proof(&l, 0).unwrap();
        let want0 = [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ];
        assert_eq!(p0.iter().map(hex).collect::<Vec<_>>(), want0);
        let p5 = inclusion_proof(&l, 5).unwrap();
        let want5 = [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        assert_eq!(p5.iter().map(hex).collect::<Vec<_>>(), want5);
        assert!(verify_inclusion(&l[5], 5, 8, &p5, &root8));
        let c6 = consistency_proof(&l, 6).unwrap();
        let want_c6 = [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ];
        assert_eq!(c6.iter().map(hex).collect::<Vec<_>>(), want_c6);
        assert!(verify_consistency(6, 8, &unhex(CT_ROOTS[6]), &root8, &c6));
    }

    #[test]
    fn all_proofs_verify_and_mangled_ones_fail() {
        let leaves: Vec<Hash> = (0..40u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let roots: Vec<Hash> = (0..=leaves.len()).map(|n| root(&leaves[..n])).collect();
        for n in 1..=leaves.len() {
            let d = &leaves[..n];
            for i in 0..n {
                let p = inclusion_proof(d, i as u64).unwrap();
                assert!(verify_inclusion(&d[i], i as u64, n as u64, &p, &roots[n]));
                if let Some(first) = p.first() {
                    let mut bad = p.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(
                        &d[i], i as u64, n as u64, &bad, &roots[n]
                    ));
                    assert!(
                        !verify_inclusion(first, i as u64, n as u64, &p, &roots[n])
                            || d[i] == *first
                    );
                    assert!(!verify_inclusion(
                        &d[i],
                        i as u64,
                        n as u64,
                        &p[1..],
                        &roots[n]
                    ));
                }
            }
            for m in 0..=n {
                let c = consistency_proof(d, m as u64).unwrap();
                assert!(
                    verify_consistency(m as u64, n as u64, &roots[m], &roots[n], &c),
                    "{m}->{n}"
                );
                if m > 0 && m < n {
                    assert!(!verify_consistency(
                        m as u64,
                        n as u64,
                        &roots[m - 1],
                        &roots[n],
                        &c
                    ));
                    let mut bad = c.clone();
                    bad[0][5] ^= 0x80;
                    assert!(!verify_consistency(
                        m as u64, n as u64, &roots[m], &roots[n], &bad
                    ));
                }
            }
        }
    }

    #[test]
    fn frontier_matches_root_and_last_leaf_proof() {
        let mut f = Frontier::default();
        let mut leaves = Vec::new();
        for i in 0..70u32 {
            let l = leaf_hash(&i.to_le_bytes());
            leaves.push(l);
            let proof = f.push(l);
            assert_eq!(f.root(), root(&leaves));
            assert_eq!(proof, inclusion_proof(&leaves, i as u64).unwrap());
            let again = Frontier::from_levels(f.size(), f.levels()).unwrap();
            assert_eq!(again, f);
        }
        assert!(Frontier::from_levels(5, vec![(2, [0; 32])]).is_none());
    }
}

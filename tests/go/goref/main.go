// Command goref is an independent verifier of casevault's disclosure log built on the Go
// reference implementations: golang.org/x/mod/sumdb/note (checkpoint signatures) and
// golang.org/x/mod/sumdb/tlog (RFC 6962 record hashes, tree hashes, inclusion and consistency
// proofs). Cosignatures (C2SP tlog-cosignature/v1, type 0x04) are not supported by sumdb/note,
// so they are checked here with crypto/ed25519 from the specification's signed message.
// It shares no code with casevault; tests/go_reference.rs runs it and compares the results.
//
// Built offline from Debian's golang-golang-x-mod-dev (GOPATH=/usr/share/gocode GO111MODULE=off).
//
//	goref export  DIR --key VKEY [--witness VKEY]... [--quorum K] [--receipt FILE]...
//	goref receipt FILE --key VKEY [--witness VKEY]... [--quorum K]
//	goref proof   FILE --key VKEY [--witness VKEY]... [--quorum K]
//
// On success it prints one JSON object on stdout and exits 0; on any failure it prints the
// reason on stderr and exits 1.
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/ioutil"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "goref: "+format+"\n", args...)
	os.Exit(1)
}

// ---- checkpoints (sumdb/note) ----

type checkpoint struct {
	origin string
	size   int64
	root   tlog.Hash
	body   string // the three body lines, each ending in "\n"
	note   string
}

// openCheckpoint verifies the log's signature with sumdb/note and parses the C2SP body.
func openCheckpoint(text string, v note.Verifier) (checkpoint, error) {
	n, err := note.Open([]byte(text), note.VerifierList(v))
	if err != nil {
		return checkpoint{}, fmt.Errorf("checkpoint signature: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return checkpoint{}, fmt.Errorf("checkpoint body: %d lines", len(lines)-1)
	}
	if lines[0] != v.Name() {
		return checkpoint{}, fmt.Errorf("checkpoint origin %q, key %q", lines[0], v.Name())
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || size < 0 || strconv.FormatInt(size, 10) != lines[1] {
		return checkpoint{}, fmt.Errorf("checkpoint size %q", lines[1])
	}
	raw, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(raw) != tlog.HashSize {
		return checkpoint{}, fmt.Errorf("checkpoint root %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], raw)
	return checkpoint{origin: lines[0], size: size, root: root, body: n.Text, note: text}, nil
}

// ---- the checkpoint key chain (docs/disclosure-log.md, "Checkpoint key chain") ----

// keyChain follows handovers from the pinned key: a checkpoint signed by the current key that
// names a next key (a "casevault-next-checkpoint-key" line) and is also signed by it makes
// that key current; a superseded key signs sizes up to its handover only.
type keyChain struct {
	keys  []note.Verifier
	until []int64 // the handover size that superseded keys[i]; -1 for the current key
}

func newChain(pinned note.Verifier) *keyChain {
	return &keyChain{keys: []note.Verifier{pinned}, until: []int64{-1}}
}

const nextKeyPrefix = "\u2014 casevault-next-checkpoint-key "

// nextKey is the verifier a handover note names, if any.
func nextKey(text, name string) (note.Verifier, bool) {
	for _, l := range strings.Split(text, "\n") {
		if !strings.HasPrefix(l, nextKeyPrefix) {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, nextKeyPrefix))
		if err != nil || len(raw) != 4+1+32 || raw[4] != 1 {
			return nil, false
		}
		vk := fmt.Sprintf("%s+%08x+%s", name, binary.BigEndian.Uint32(raw[:4]),
			base64.StdEncoding.EncodeToString(raw[4:]))
		v, err := note.NewVerifier(vk)
		if err != nil {
			return nil, false
		}
		return v, true
	}
	return nil, false
}

// open verifies a checkpoint under the chain (walked in order), following a handover.
func (c *keyChain) open(text string) (checkpoint, error) {
	var last error
	for i := len(c.keys) - 1; i >= 0; i-- {
		cp, err := openCheckpoint(text, c.keys[i])
		if err != nil {
			last = err
			continue
		}
		if c.until[i] >= 0 && cp.size > c.until[i] {
			return checkpoint{}, fmt.Errorf("checkpoint of size %d signed by a key superseded at %d", cp.size, c.until[i])
		}
		if i == len(c.keys)-1 {
			if nv, ok := nextKey(text, cp.origin); ok {
				if _, err := openCheckpoint(text, nv); err == nil {
					c.until[i] = cp.size
					c.keys = append(c.keys, nv)
					c.until = append(c.until, -1)
				}
			}
		}
		return cp, nil
	}
	return checkpoint{}, last
}

// follow walks handover notes (a receipt's or a proof's "chain").
func (c *keyChain) follow(notes []string) error {
	for i, n := range notes {
		if _, err := c.open(n); err != nil {
			return fmt.Errorf("handover %d: %v", i, err)
		}
	}
	return nil
}

// ---- cosignatures (crypto/ed25519, c2sp.org/tlog-cosignature) ----

type witness struct {
	name string
	id   [4]byte
	key  ed25519.PublicKey
}

func parseWitness(vkey string) (witness, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return witness{}, errors.New("witness key: not name+id+key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 33 || raw[0] != 0x04 {
		return witness{}, errors.New("witness key: not a type 0x04 Ed25519 key")
	}
	w := witness{name: parts[0], key: ed25519.PublicKey(raw[1:])}
	h := sha256.Sum256(append([]byte(parts[0]+"\n"), raw...))
	copy(w.id[:], h[:4])
	if hex.EncodeToString(w.id[:]) != parts[1] {
		return witness{}, errors.New("witness key: key id does not match")
	}
	return w, nil
}

// cosigners returns the witnesses with a valid cosignature line in sigLines over body. A line
// naming a known witness with its key id that does not verify is an error.
func cosigners(body string, sigLines []string, ws []witness) ([]string, error) {
	var got []string
	for _, w := range ws {
		ok := false
		for _, l := range sigLines {
			rest := strings.TrimPrefix(l, "\u2014 ")
			if rest == l {
				continue
			}
			sp := strings.IndexByte(rest, ' ')
			if sp < 0 || rest[:sp] != w.name {
				continue
			}
			blob, err := base64.StdEncoding.DecodeString(rest[sp+1:])
			if err != nil || len(blob) < 4 {
				return nil, fmt.Errorf("cosignature of %s: not a signature", w.name)
			}
			if !bytes.Equal(blob[:4], w.id[:]) {
				continue
			}
			if len(blob) != 4+8+64 {
				return nil, fmt.Errorf("cosignature of %s: length %d", w.name, len(blob))
			}
			t := binary.BigEndian.Uint64(blob[4:12])
			msg := fmt.Sprintf("cosignature/v1\ntime %d\n%s", t, body)
			if !ed25519.Verify(w.key, []byte(msg), blob[12:]) {
				return nil, fmt.Errorf("cosignature of %s does not verify", w.name)
			}
			ok = true
		}
		if ok {
			got = append(got, w.name)
		}
	}
	return got, nil
}

// noteSigLines is the signature block of a signed note, one line per element.
func noteSigLines(text string) []string {
	i := strings.LastIndex(text, "\n\n")
	if i < 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(text[i+2:], "\n"), "\n")
}

// ---- the tree (sumdb/tlog) ----

// tree keeps every stored hash of tlog's layout in memory (fine for a test-sized export).
type tree struct {
	hashes []tlog.Hash
	leaves [][]byte
}

func (t *tree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(t.hashes)) {
			return nil, fmt.Errorf("hash %d not stored", x)
		}
		out[i] = t.hashes[x]
	}
	return out, nil
}

func (t *tree) add(record []byte) error {
	hs, err := tlog.StoredHashes(int64(len(t.leaves)), record, t)
	if err != nil {
		return err
	}
	t.hashes = append(t.hashes, hs...)
	t.leaves = append(t.leaves, record)
	return nil
}

func (t *tree) size() int64 { return int64(len(t.leaves)) }

func (t *tree) root(n int64) (tlog.Hash, error) { return tlog.TreeHash(n, t) }

// ---- entries: index and signature, re-implemented from docs/disclosure-log.md ----

type rd struct {
	b   []byte
	err error
}

func (r *rd) take(n int) []byte {
	if r.err != nil || len(r.b) < n {
		r.err = errors.New("short entry")
		return make([]byte, n)
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}
func (r *rd) u8() byte { return r.take(1)[0] }
func (r *rd) text() string {
	n := binary.BigEndian.Uint16(r.take(2))
	return string(r.take(int(n)))
}

// checkEntries checks every entry's index and Ed25519 signature against the staff key
// registry rebuilt from the log (registrations set a key from the next entry, revocations
// remove it; entry 0 is signed by the key it registers).
func checkEntries(leaves [][]byte) (int, error) {
	keys := map[string]ed25519.PublicKey{}
	for i, stored := range leaves {
		if len(stored) < 64+19 {
			return 0, fmt.Errorf("entry %d: too short", i)
		}
		body, sig := stored[:len(stored)-64], stored[len(stored)-64:]
		r := &rd{b: body}
		if v := r.u8(); v != 1 {
			return 0, fmt.Errorf("entry %d: version %d", i, v)
		}
		idx := binary.BigEndian.Uint64(r.take(8))
		r.take(8) // time
		kind := r.u8()
		var regName string
		var regKey ed25519.PublicKey
		revoked := ""
		switch kind {
		case 1, 11:
			regName = r.text()
			r.text() // role
			regKey = ed25519.PublicKey(append([]byte(nil), r.take(32)...))
		case 2:
			revoked = r.text()
		}
		actor := r.text()
		if r.err != nil {
			return 0, fmt.Errorf("entry %d: %v", i, r.err)
		}
		if idx != uint64(i) {
			return 0, fmt.Errorf("entry %d: index field %d", i, idx)
		}
		k := keys[actor]
		if i == 0 {
			if kind != 1 || regName != actor {
				return 0, errors.New("entry 0: not the founding registration")
			}
			k = regKey
		}
		if k == nil {
			return 0, fmt.Errorf("entry %d: unknown signer %q", i, actor)
		}
		msg := append([]byte("casevault disclosure-log entry v1\n"), body...)
		if !ed25519.Verify(k, msg, sig) {
			return 0, fmt.Errorf("entry %d: signature does not verify", i)
		}
		if kind == 1 {
			keys[regName] = regKey
		}
		if revoked != "" {
			delete(keys, revoked)
		}
	}
	return len(leaves), nil
}

// ---- files ----

func readRecords(path string) ([][]byte, error) {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%s: truncated length", filepath.Base(path))
		}
		n := binary.BigEndian.Uint32(b)
		if n == 0 || int64(n) > int64(len(b)-4) {
			return nil, fmt.Errorf("%s: record %d: bad length %d", filepath.Base(path), len(out), n)
		}
		out = append(out, b[4:4+n])
		b = b[4+n:]
	}
	return out, nil
}

type receiptJSON struct {
	Checkpoint string   `json:"checkpoint"`
	Index      int64    `json:"index"`
	Entry      string   `json:"entry"`
	Proof      []string `json:"proof"`
	Chain      []string `json:"chain"`
}

type proofJSON struct {
	Format  string   `json:"format"`
	Version int      `json:"version"`
	Old     string   `json:"old"`
	New     string   `json:"new"`
	Proof   []string `json:"proof"`
	Chain   []string `json:"chain"`
}

func hashes(b64 []string) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(b64))
	for i, s := range b64 {
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(raw) != tlog.HashSize {
			return nil, fmt.Errorf("proof hash %d", i)
		}
		copy(out[i][:], raw)
	}
	return out, nil
}

type opts struct {
	key       note.Verifier
	witnesses []witness
	quorum    int
	receipts  []string
}

func parseArgs(args []string) (string, opts) {
	var o opts
	pos := ""
	for i := 0; i < len(args); i++ {
		val := func() string {
			if i+1 >= len(args) {
				fail("%s needs a value", args[i])
			}
			i++
			return args[i]
		}
		switch args[i] {
		case "--key":
			v, err := note.NewVerifier(strings.TrimSpace(val()))
			if err != nil {
				fail("verifier key: %v", err)
			}
			o.key = v
		case "--witness":
			w, err := parseWitness(strings.TrimSpace(val()))
			if err != nil {
				fail("%v", err)
			}
			o.witnesses = append(o.witnesses, w)
		case "--quorum":
			q, err := strconv.Atoi(val())
			if err != nil {
				fail("quorum: %v", err)
			}
			o.quorum = q
		case "--receipt":
			o.receipts = append(o.receipts, val())
		default:
			if pos != "" {
				fail("unexpected argument %q", args[i])
			}
			pos = args[i]
		}
	}
	if pos == "" || o.key == nil {
		fail("usage: goref export|receipt|proof PATH --key VKEY [--witness VKEY]... [--quorum K]")
	}
	return pos, o
}

// checkReceipt verifies a receipt on its own: checkpoint signature, cosignatures, quorum and
// the entry's inclusion (tlog.CheckRecord). Returns the checkpoint, the leaf and cosigners.
func checkReceipt(path string, o opts) (checkpoint, []byte, []string) {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var r receiptJSON
	if err := json.Unmarshal(b, &r); err != nil {
		fail("receipt: %v", err)
	}
	ch := newChain(o.key)
	if err := ch.follow(r.Chain); err != nil {
		fail("receipt %v", err)
	}
	cp, err := ch.open(r.Checkpoint)
	if err != nil {
		fail("receipt %v", err)
	}
	cos, err := cosigners(cp.body, noteSigLines(cp.note), o.witnesses)
	if err != nil {
		fail("receipt %v", err)
	}
	if len(cos) < o.quorum {
		fail("receipt checkpoint: %d of %d required cosignatures", len(cos), o.quorum)
	}
	leaf, err := base64.StdEncoding.DecodeString(r.Entry)
	if err != nil {
		fail("receipt entry: %v", err)
	}
	p, err := hashes(r.Proof)
	if err != nil {
		fail("receipt %v", err)
	}
	if err := tlog.CheckRecord(tlog.RecordProof(p), cp.size, cp.root, r.Index, tlog.RecordHash(leaf)); err != nil {
		fail("receipt inclusion proof: %v", err)
	}
	if len(leaf) < 9 || int64(binary.BigEndian.Uint64(leaf[1:9])) != r.Index {
		fail("receipt entry: index field is not %d", r.Index)
	}
	return cp, leaf, cos
}

func hx(h tlog.Hash) string { return hex.EncodeToString(h[:]) }

func emit(v interface{}) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

func cmdExport(dir string, o opts) {
	leaves, err := readRecords(filepath.Join(dir, "entries.bin"))
	if err != nil {
		fail("%v", err)
	}
	if len(leaves) == 0 {
		fail("export has no entries")
	}
	signed, err := checkEntries(leaves)
	if err != nil {
		fail("%v", err)
	}
	t := &tree{}
	for _, l := range leaves {
		if err := t.add(l); err != nil {
			fail("tree: %v", err)
		}
	}
	// The latest checkpoint must cover exactly the exported entries.
	latestText, err := ioutil.ReadFile(filepath.Join(dir, "checkpoint.txt"))
	if err != nil {
		fail("checkpoint.txt: %v", err)
	}
	// The checkpoints in order first: they carry the key handovers.
	ch := newChain(o.key)
	notes, err := readRecords(filepath.Join(dir, "checkpoints.bin"))
	if err != nil {
		fail("%v", err)
	}
	var cps []checkpoint
	for i, n := range notes {
		cp, err := ch.open(string(n))
		if err != nil {
			fail("checkpoints.bin record %d: %v", i, err)
		}
		cps = append(cps, cp)
	}
	latest, err := ch.open(string(latestText))
	if err != nil {
		fail("checkpoint.txt: %v", err)
	}
	if latest.size != t.size() {
		fail("checkpoint.txt: size %d, export has %d entries", latest.size, t.size())
	}
	checkAt := func(cp checkpoint, what string) {
		if cp.size > t.size() {
			fail("%s: size %d beyond the %d entries", what, cp.size, t.size())
		}
		h, err := t.root(cp.size)
		if err != nil {
			fail("%s: %v", what, err)
		}
		if h != cp.root {
			fail("%s: root at size %d differs from the entries' tree hash", what, cp.size)
		}
		// Consistency with the latest, as tlog proves it.
		if cp.size > 0 && cp.size < latest.size {
			p, err := tlog.ProveTree(latest.size, cp.size, t)
			if err != nil {
				fail("%s: %v", what, err)
			}
			if err := tlog.CheckTree(p, latest.size, latest.root, cp.size, cp.root); err != nil {
				fail("%s: %v", what, err)
			}
		}
	}
	checkAt(latest, "checkpoint.txt")
	for i, cp := range cps {
		checkAt(cp, fmt.Sprintf("checkpoints.bin record %d", i))
	}
	// Cosignatures: blocks of body lines, cosignature lines, an empty line.
	cosigned, latestCos := 0, 0
	if b, err := ioutil.ReadFile(filepath.Join(dir, "cosignatures.txt")); err == nil {
		for _, block := range strings.Split(string(b), "\n\n") {
			if strings.TrimSpace(block) == "" {
				continue
			}
			lines := strings.Split(strings.TrimSuffix(block, "\n"), "\n")
			if len(lines) < 4 {
				fail("cosignatures.txt: short block")
			}
			body := strings.Join(lines[:3], "\n") + "\n"
			size, err := strconv.ParseInt(lines[1], 10, 64)
			if err != nil || lines[0] != o.key.Name() || size > t.size() {
				fail("cosignatures.txt: checkpoint %q of another log or size", lines[1])
			}
			h, _ := t.root(size)
			if base64.StdEncoding.EncodeToString(h[:]) != lines[2] {
				fail("cosignatures.txt: root at size %d differs from the entries' tree hash", size)
			}
			cos, err := cosigners(body, lines[3:], o.witnesses)
			if err != nil {
				fail("cosignatures.txt: %v", err)
			}
			cosigned += len(cos)
			if size == latest.size && len(cos) > latestCos {
				latestCos = len(cos)
			}
		}
	} else if !os.IsNotExist(err) {
		fail("cosignatures.txt: %v", err)
	}
	if lc, err := cosigners(latest.body, noteSigLines(latest.note), o.witnesses); err != nil {
		fail("checkpoint.txt: %v", err)
	} else if len(lc) > latestCos {
		latestCos = len(lc)
	}
	if latestCos < o.quorum {
		fail("latest checkpoint: %d of %d required cosignatures", latestCos, o.quorum)
	}
	// Receipts: valid on their own, their entry is the export's entry at that index, and their
	// checkpoint is a prefix of the export's tree.
	for _, rp := range o.receipts {
		cp, leaf, _ := checkReceipt(rp, o)
		idx := int64(binary.BigEndian.Uint64(leaf[1:9]))
		if idx >= t.size() || !bytes.Equal(t.leaves[idx], leaf) {
			fail("receipt %s: entry %d is not the export's", filepath.Base(rp), idx)
		}
		checkAt(cp, "receipt "+filepath.Base(rp))
	}
	emit(map[string]interface{}{
		"ok": true, "size": t.size(), "root": hx(latest.root),
		"checkpoints_checked": len(notes) + 1, "signatures_checked": signed,
		"cosignatures_checked": cosigned, "latest_cosigners": latestCos,
		"receipts_checked": len(o.receipts),
	})
}

func cmdReceipt(path string, o opts) {
	cp, leaf, cos := checkReceipt(path, o)
	emit(map[string]interface{}{
		"ok": true, "index": binary.BigEndian.Uint64(leaf[1:9]), "size": cp.size,
		"root": hx(cp.root), "leaf_hash": hx(tlog.RecordHash(leaf)), "cosigners": cos,
	})
}

func cmdProof(path string, o opts) {
	b, err := ioutil.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	var p proofJSON
	if err := json.Unmarshal(b, &p); err != nil {
		fail("proof: %v", err)
	}
	if p.Format != "casevault-consistency-proof" || p.Version != 1 {
		fail("proof: format %q version %d", p.Format, p.Version)
	}
	ch := newChain(o.key)
	if err := ch.follow(p.Chain); err != nil {
		fail("proof %v", err)
	}
	old, err := ch.open(p.Old)
	if err != nil {
		fail("old %v", err)
	}
	nw, err := ch.open(p.New)
	if err != nil {
		fail("new %v", err)
	}
	hs, err := hashes(p.Proof)
	if err != nil {
		fail("%v", err)
	}
	if old.size > nw.size || old.size == 0 {
		fail("proof: sizes %d -> %d", old.size, nw.size)
	}
	if err := tlog.CheckTree(tlog.TreeProof(hs), nw.size, nw.root, old.size, old.root); err != nil {
		fail("consistency proof: %v", err)
	}
	cos, err := cosigners(nw.body, noteSigLines(nw.note), o.witnesses)
	if err != nil {
		fail("new %v", err)
	}
	if len(cos) < o.quorum {
		fail("new checkpoint: %d of %d required cosignatures", len(cos), o.quorum)
	}
	emit(map[string]interface{}{
		"ok": true, "old_size": old.size, "new_size": nw.size, "old_root": hx(old.root),
		"new_root": hx(nw.root), "new_cosigners": cos,
	})
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: goref export|receipt|proof PATH --key VKEY ...")
	}
	path, o := parseArgs(os.Args[2:])
	switch os.Args[1] {
	case "export":
		cmdExport(path, o)
	case "receipt":
		cmdReceipt(path, o)
	case "proof":
		cmdProof(path, o)
	default:
		fail("unknown command %q", os.Args[1])
	}
}

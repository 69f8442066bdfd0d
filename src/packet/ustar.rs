//! The deterministic POSIX ustar subset the bundle uses, written and read by hand so that the
//! reader can be strict: it accepts exactly what [`write`] produces and nothing else.
//!
//! Every header: name (≤ 100 bytes, NUL-padded), mode `0000644`/`0000755`, uid/gid `0000000`,
//! 11-digit octal size and mtime, checksum `%06o\0 `, type `0` (file) or `5` (directory), empty
//! link name, magic `ustar\0`, version `00`, empty user/group names, device numbers `0000000`,
//! empty prefix, zero padding. Data is zero-padded to 512 bytes; the archive ends with exactly
//! two zero blocks and nothing after.

use super::{PacketError, Part};

const BLOCK: usize = 512;

/// One entry to write or one entry read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry<'a> {
    pub name: &'a str,
    pub dir: bool,
    pub data: &'a [u8],
}

fn octal(field: &mut [u8], value: u64) {
    // `field.len() - 1` digits then NUL.
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
}

fn header(entry: &Entry<'_>, mtime: u64) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    h[..entry.name.len()].copy_from_slice(entry.name.as_bytes());
    octal(&mut h[100..108], if entry.dir { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], entry.data.len() as u64);
    octal(&mut h[136..148], mtime);
    h[156] = if entry.dir { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], 0);
    octal(&mut h[337..345], 0);
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn padded(len: usize) -> usize {
    len.div_ceil(BLOCK) * BLOCK
}

/// The largest value 11 octal digits hold.
const OCTAL11_MAX: u64 = 0o77777777777;

/// The archive bytes. Callers validate names (≤ 100 bytes, no NUL); this only asserts sizes.
pub(crate) fn write(entries: &[Entry<'_>], mtime: u64) -> Result<Vec<u8>, PacketError> {
    let total: usize = entries
        .iter()
        .map(|e| BLOCK + padded(e.data.len()))
        .sum::<usize>()
        + 2 * BLOCK;
    if mtime > OCTAL11_MAX {
        return Err(PacketError::invalid("time out of range"));
    }
    let mut out = Vec::with_capacity(total);
    for e in entries {
        if e.name.len() > 100 || e.name.is_empty() || e.name.contains('\0') {
            return Err(PacketError::invalid("entry name too long"));
        }
        out.extend_from_slice(&header(e, mtime));
        out.extend_from_slice(e.data);
        out.resize(padded(out.len()), 0);
    }
    out.resize(out.len() + 2 * BLOCK, 0);
    Ok(out)
}

fn bad(detail: &str) -> PacketError {
    PacketError::malformed(Part::Bundle, detail)
}

/// Parses `digits` octal digits followed by a NUL, nothing else.
fn read_octal(field: &[u8]) -> Result<u64, PacketError> {
    let (digits, end) = field.split_at(field.len() - 1);
    if end != [0] || !digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
        return Err(bad("numeric header field is not fixed-width octal"));
    }
    Ok(digits
        .iter()
        .fold(0u64, |acc, d| (acc << 3) | u64::from(d - b'0')))
}

/// Reads the archive strictly; returns entries borrowing from `bytes`, and the common mtime.
/// At most `max_entries` entries.
pub(crate) fn read(bytes: &[u8], max_entries: usize) -> Result<(Vec<Entry<'_>>, u64), PacketError> {
    if !bytes.len().is_multiple_of(BLOCK) {
        return Err(bad("length is not a multiple of 512"));
    }
    let mut entries = Vec::new();
    let mut pos = 0;
    let mut mtime = None;
    loop {
        let Some(h) = bytes.get(pos..pos + BLOCK) else {
            return Err(bad("missing end-of-archive blocks"));
        };
        if h.iter().all(|&b| b == 0) {
            if bytes.len() != pos + 2 * BLOCK || bytes[pos..].iter().any(|&b| b != 0) {
                return Err(bad("end of archive must be exactly two zero blocks"));
            }
            return match mtime {
                Some(m) => Ok((entries, m)),
                None => Err(bad("empty archive")),
            };
        }
        if entries.len() == max_entries {
            return Err(bad("too many entries"));
        }
        let (entry, m) = read_header(h, &bytes[pos + BLOCK..])?;
        if *mtime.get_or_insert(m) != m {
            return Err(bad("entries have different times"));
        }
        pos += BLOCK + padded(entry.data.len());
        entries.push(entry);
    }
}

fn read_header<'a>(h: &'a [u8], rest: &'a [u8]) -> Result<(Entry<'a>, u64), PacketError> {
    let mut blank = [0u8; BLOCK];
    blank.copy_from_slice(h);
    blank[148..156].copy_from_slice(b"        ");
    let sum: u32 = blank.iter().map(|&b| u32::from(b)).sum();
    if h[148..156] != *format!("{sum:06o}\0 ").as_bytes() {
        return Err(bad("header checksum mismatch"));
    }
    if &h[257..263] != b"ustar\0" || &h[263..265] != b"00" {
        return Err(bad("not a ustar header"));
    }
    let name_field = &h[..100];
    let name_len = name_field.iter().position(|&b| b == 0).unwrap_or(100);
    if name_len == 0 || name_field[name_len..].iter().any(|&b| b != 0) {
        return Err(bad("bad entry name field"));
    }
    let name =
        std::str::from_utf8(&name_field[..name_len]).map_err(|_| bad("entry name is not UTF-8"))?;
    let dir = match h[156] {
        b'0' => false,
        b'5' => true,
        _ => return Err(bad("only regular files and directories are allowed")),
    };
    let mode = read_octal(&h[100..108])?;
    if mode != if dir { 0o755 } else { 0o644 } {
        return Err(bad("unexpected mode"));
    }
    if read_octal(&h[108..116])? != 0
        || read_octal(&h[116..124])? != 0
        || read_octal(&h[329..337])? != 0
        || read_octal(&h[337..345])? != 0
    {
        return Err(bad("unexpected owner or device"));
    }
    if h[157..257]
        .iter()
        .chain(&h[265..329])
        .chain(&h[345..])
        .any(|&b| b != 0)
    {
        return Err(bad("link name, owner names and prefix must be empty"));
    }
    let size = read_octal(&h[124..136])?;
    let mtime = read_octal(&h[136..148])?;
    let size = usize::try_from(size).map_err(|_| bad("entry too large"))?;
    if dir && size != 0 {
        return Err(bad("directory with data"));
    }
    if size > rest.len() {
        return Err(bad("entry runs past the end"));
    }
    let data = &rest[..size];
    let pad_end = padded(size);
    if pad_end > rest.len() || rest[size..pad_end].iter().any(|&b| b != 0) {
        return Err(bad("entry padding is not zero"));
    }
    Ok((Entry { name, dir, data }, mtime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let entries = [
            Entry {
                name: "a.json",
                dir: false,
                data: b"{}",
            },
            Entry {
                name: "d/",
                dir: true,
                data: b"",
            },
            Entry {
                name: "d/x",
                dir: false,
                data: &[9u8; 700],
            },
        ];
        let bytes = write(&entries, 1_700_000_000).unwrap();
        assert_eq!(bytes.len(), 512 * (1 + 1 + 1 + 1 + 2 + 2));
        let (back, mtime) = read(&bytes, 10).unwrap();
        assert_eq!(back, entries);
        assert_eq!(mtime, 1_700_000_000);
    }

    #[test]
    fn trailing_data_is_refused() {
        let mut bytes = write(
            &[Entry {
                name: "a",
                dir: false,
                data: b"x",
            }],
            0,
        )
        .unwrap();
        bytes.extend_from_slice(&[0u8; 512]);
        assert!(read(&bytes, 10).is_err());
    }
}

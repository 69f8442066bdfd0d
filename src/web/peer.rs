//! Who is on the other end of a loopback connection.
//!
//! Browsers do not separate cookies by port, so any local account running a server on
//! `127.0.0.1:OTHER` receives our session cookie and could replay it. On loopback the server
//! therefore answers only connections whose peer socket belongs to its own uid. Linux lists
//! every TCP socket with its owner in `/proc/net/tcp` and `/proc/net/tcp6`: the peer's
//! socket is the line whose local address is the peer's address and whose remote address is
//! ours. No crate is needed for that.

use std::net::{IpAddr, SocketAddr};

/// The uid owning the socket at `peer` connected to `ours`, from `/proc/net/tcp{,6}`;
/// `None` when it cannot be found (refused by the caller).
pub fn uid_of(peer: SocketAddr, ours: SocketAddr) -> Option<u32> {
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().find_map(|f| {
        let table = std::fs::read_to_string(f).ok()?;
        find_uid(&table, peer, ours)
    })
}

/// The server's effective uid.
pub fn my_uid() -> u32 {
    rustix::process::geteuid().as_raw()
}

/// Whether a connection may be served.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not from loopback (its uid is not ours to know).
    Remote,
    /// From loopback, by a process running as our own uid.
    Own(u32),
    /// From loopback, by another uid or one whose uid cannot be found.
    Refused,
}

/// Whether the connection from `peer` to `ours` may be served.
pub fn check(peer: SocketAddr, ours: SocketAddr) -> Verdict {
    if !peer.ip().is_loopback() && !is_mapped_loopback(peer.ip()) {
        return Verdict::Remote;
    }
    match uid_of(peer, ours) {
        Some(u) if u == my_uid() => Verdict::Own(u),
        _ => Verdict::Refused,
    }
}

fn is_mapped_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
        IpAddr::V4(_) => false,
    }
}

/// An address as the kernel prints it: each 32-bit word of the address in host byte order,
/// `%08X`, then `:%04X` for the port.
fn kernel_form(a: SocketAddr) -> Vec<String> {
    let word = |c: &[u8]| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]]));
    let v6 = |o: [u8; 16]| o.chunks(4).map(word).collect::<String>();
    let port = a.port();
    match a.ip() {
        // An IPv4 peer of an IPv6 socket is listed in tcp6 as `::ffff:a.b.c.d`.
        IpAddr::V4(v4) => vec![
            format!("{}:{port:04X}", word(&v4.octets())),
            format!("{}:{port:04X}", v6(v4.to_ipv6_mapped().octets())),
        ],
        IpAddr::V6(ip6) => {
            let mut out = vec![format!("{}:{port:04X}", v6(ip6.octets()))];
            if let Some(v4) = ip6.to_ipv4_mapped() {
                out.push(format!("{}:{port:04X}", word(&v4.octets())));
            }
            out
        }
    }
}

/// The `uid` column of the line of `table` with local address `peer`, remote `ours`.
fn find_uid(table: &str, peer: SocketAddr, ours: SocketAddr) -> Option<u32> {
    let (p, o) = (kernel_form(peer), kernel_form(ours));
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        let (local, remote, uid) = (cols.get(1)?, cols.get(2)?, cols.get(7)?);
        let hit = p.iter().any(|x| x.eq_ignore_ascii_case(local))
            && o.iter().any(|x| x.eq_ignore_ascii_case(remote));
        if hit {
            uid.parse().ok()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream};

    fn pair(bind: &str) -> Option<(TcpStream, TcpStream)> {
        let l = TcpListener::bind(bind).ok()?;
        let c = TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let (s, _) = l.accept().unwrap();
        Some((c, s))
    }

    #[test]
    fn a_real_loopback_peer_is_ours() {
        let (c, s) = pair("127.0.0.1:0").unwrap();
        let (peer, ours) = (s.peer_addr().unwrap(), s.local_addr().unwrap());
        assert_eq!(peer, c.local_addr().unwrap());
        assert_eq!(uid_of(peer, ours), Some(my_uid()));
        assert_eq!(check(peer, ours), Verdict::Own(my_uid()));
        // A port nobody uses: not found, so refused.
        let gone = SocketAddr::new(peer.ip(), 1);
        assert_eq!(uid_of(gone, ours), None);
        assert_eq!(check(gone, ours), Verdict::Refused);
    }

    #[test]
    fn a_real_ipv6_loopback_peer_is_ours() {
        // Machines without IPv6 loopback skip this.
        let Some((_c, s)) = pair("[::1]:0") else {
            return;
        };
        let (peer, ours) = (s.peer_addr().unwrap(), s.local_addr().unwrap());
        assert_eq!(uid_of(peer, ours), Some(my_uid()));
    }

    #[test]
    fn parses_the_kernel_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   \
            0: 0100007F:9C40 0100007F:1CDE 01 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 20 4 30 10 -1\n";
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let ours: SocketAddr = "127.0.0.1:7390".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(find_uid(table, peer, ours), Some(1000));
            assert_eq!(find_uid(table, ours, peer), None, "direction matters");
        }
    }
}

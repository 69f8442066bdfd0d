//! Exporting a referral packet: 200 records (~1 KiB JSON each) and a 5 MiB attachment.
//! Target: under 300 ms. For scale, stock `age -r` encrypts the same bundle bytes, fed
//! through a pipe (no temp file), and the ratio is printed.
//!
//! Run: `cargo bench --bench packet_export`

#[path = "../tests/packet_common/mod.rs"]
mod packet_common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use casevault::packet;
use criterion::{criterion_group, Criterion};

const RECORDS: usize = 200;
const ATTACHMENT: usize = 5 << 20;

fn bundle_of(built: &packet::BuiltPacket, id: &age::x25519::Identity) -> Vec<u8> {
    let mut plain = Vec::new();
    age::Decryptor::new(&built.ciphertext[..])
        .unwrap()
        .decrypt(std::iter::once(id as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut plain)
        .unwrap();
    plain
}

/// Stock `age -r`, bundle on stdin, ciphertext from stdout; `None` if age is missing.
fn stock_age(recipient: &str, bundle: &[u8]) -> Option<Vec<u8>> {
    let mut child = Command::new("age")
        .args(["-r", recipient])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    std::thread::scope(|s| {
        s.spawn(move || stdin.write_all(bundle).unwrap());
        let out = child.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    })
}

fn lib_age(recipient: &age::x25519::Recipient, bundle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bundle.len() + 4096);
    let mut w = age::Encryptor::with_recipients(std::iter::once(recipient as &dyn age::Recipient))
        .unwrap()
        .wrap_output(&mut out)
        .unwrap();
    w.write_all(bundle).unwrap();
    w.finish().unwrap();
    out
}

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn bench(c: &mut Criterion) {
    let id = age::x25519::Identity::generate();
    let recipient = id.to_public();
    let key = packet_common::sender_key();
    let input = packet_common::input(RECORDS, ATTACHMENT);
    let built = packet::build(&input, &key, &recipient).unwrap();
    let bundle = bundle_of(&built, &id);
    let rtext = recipient.to_string();
    let have_age = stock_age(&rtext, b"probe").is_some();

    let mut g = c.benchmark_group("packet_export");
    g.sample_size(20);
    g.bench_function("build 200 records + 5 MiB", |b| {
        b.iter(|| packet::build(&input, &key, &recipient).unwrap())
    });
    g.bench_function("age crate encrypts bundle", |b| {
        b.iter(|| lib_age(&recipient, &bundle))
    });
    if have_age {
        g.bench_function("stock age -r encrypts bundle", |b| {
            b.iter(|| stock_age(&rtext, &bundle).unwrap())
        });
    }
    g.finish();

    let ours = median(
        || drop(packet::build(&input, &key, &recipient).unwrap()),
        15,
    );
    let lib = median(|| drop(lib_age(&recipient, &bundle)), 15);
    println!(
        "\nbundle {:.2} MiB, ciphertext {:.2} MiB",
        bundle.len() as f64 / 1048576.0,
        built.ciphertext.len() as f64 / 1048576.0
    );
    println!("build (median of 15):           {ours:?}  (target < 300 ms)");
    println!("age crate, encryption only:     {lib:?}");
    if have_age {
        let stock = median(|| drop(stock_age(&rtext, &bundle).unwrap()), 15);
        println!("stock `age -r`, same bytes:     {stock:?}");
        println!(
            "ratio build / stock age:        {:.2}",
            ours.as_secs_f64() / stock.as_secs_f64()
        );
        println!(
            "ratio age crate / stock age:    {:.2}",
            lib.as_secs_f64() / stock.as_secs_f64()
        );
    } else {
        println!("!!!!! stock `age` not installed: no comparison !!!!!");
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}

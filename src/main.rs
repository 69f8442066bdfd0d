#![forbid(unsafe_code)]

fn main() {
    std::process::exit(casevault::cli::main());
}

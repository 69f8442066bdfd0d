//! The command line: a thin layer over the library.
/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    0
}

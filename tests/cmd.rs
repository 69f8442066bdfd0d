//! Snapshot tests of the help and the main messages, in Chinese and English (see tests/cmd/README.md).

#[test]
fn cli_snapshots() {
    trycmd::TestCases::new()
        .register_bin(
            "casevault",
            trycmd::schema::Bin::Path(env!("CARGO_BIN_EXE_casevault").into()),
        )
        .case("tests/cmd/*.toml");
}

//! Compile-fail and compile-pass tests of the macros' diagnostics.
//!
//! The `.stderr` snapshots come from the one toolchain CI runs (1.95 stable); other
//! toolchains word their diagnostics differently, so there these tests are ignored.
//! Bless with `TRYBUILD=overwrite cargo test -p ui-tests`, then read the diff.

#[rustversion::attr(not(stable(1.95)), ignore)] // STABLE
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/pass/*.rs");
    t.compile_fail("tests/fail/*.rs");
}

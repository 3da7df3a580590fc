//! Build steps beside rustc's own:
//! * compiles `src/util/longdouble.c`: INCRBYFLOAT's `long double` arithmetic (see that file);
//! * in release builds for x86_64 Linux, hands the linker `src/code-order.txt`: the functions
//!   the server runs while it serves, the busiest first (`examples/code_order.sh` writes it from
//!   a callgrind profile). LLD lays them out first and together, so the code that serves
//!   requests sits in a few pages instead of being spread over 14 MB of text: fewer page faults
//!   the first time a command family runs, and fewer instruction-TLB misses after. Measured
//!   (`/proc/PID/smaps`, a fresh server loading 1,000 sets of 100 integers): the text it
//!   faulted in fell from 640-730 KiB to 64-256 KiB. Names missing from the binary (the file is
//!   older than the code or the dependencies) are skipped silently: the layout only decays
//!   towards rustc's own. The option needs LLD, which rustc links with on this target since
//!   1.90; `EDDY_CODE_ORDER=off` leaves the layout alone (for another linker).

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=src/util/longdouble.c");
    cc::Build::new()
        .file("src/util/longdouble.c")
        .warnings(true)
        .compile("eddy_longdouble");

    println!("cargo:rerun-if-changed=src/code-order.txt");
    println!("cargo:rerun-if-env-changed=EDDY_CODE_ORDER");
    let env = |k: &str| std::env::var(k).unwrap_or_default();
    let order = Path::new(&env("CARGO_MANIFEST_DIR")).join("src/code-order.txt");
    if env("PROFILE") == "release"
        && env("TARGET") == "x86_64-unknown-linux-gnu"
        && env("EDDY_CODE_ORDER") != "off"
        && links_with_lld(&env("RUSTC"))
        && order.exists()
    {
        println!(
            "cargo:rustc-link-arg-bin=eddy-server=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo:rustc-link-arg-bin=eddy-server=-Wl,--no-warn-symbol-ordering");
    }
}

/// Whether this rustc links x86_64 Linux binaries with its own LLD by default (1.90 and later).
fn links_with_lld(rustc: &str) -> bool {
    let out = Command::new(rustc).arg("-V").output();
    let version = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version.ok().and_then(|v| {
        let mut parts = v.split_whitespace().nth(1)?.split('.');
        let major: u32 = parts.next()?.parse().ok()?;
        let minor: u32 = parts.next()?.parse().ok()?;
        Some((major, minor))
    });
    matches!(minor, Some((m, n)) if m > 1 || n >= 90)
}

//! Compiles `src/util/longdouble.c`: INCRBYFLOAT's `long double` arithmetic (see that file).

fn main() {
    println!("cargo:rerun-if-changed=src/util/longdouble.c");
    cc::Build::new()
        .file("src/util/longdouble.c")
        .warnings(true)
        .compile("eddy_longdouble");
}

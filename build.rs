//! Gives the shared library an ELF soname, so programs linked with `-laof` record
//! `libaof.so.<major>` (for 0.x: `libaof.so.0.<minor>`, since 0.x minors may break the ABI)
//! and `make install` can lay out the usual symlinks; and keeps it from exporting
//! anything but the C API. Nothing else is built here.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap();
        let minor = std::env::var("CARGO_PKG_VERSION_MINOR").unwrap();
        let soname = if major == "0" {
            format!("libaof.so.0.{minor}")
        } else {
            format!("libaof.so.{major}")
        };
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
        // Dependencies' own `#[no_mangle]` functions (crc64fast-nvme's `digest_*`) must
        // not be exported: they could clash with a program's symbols. Only aof_* remain.
        println!("cargo:rustc-cdylib-link-arg=-Wl,--exclude-libs,ALL");
    }
}

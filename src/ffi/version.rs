//! Version of libaof: compile-time macros in the header and run-time calls in the library.
//! Compare them to detect a program built against another version's header.

use std::ffi::{c_char, CStr};

use super::boundary;

/// Major version (compatibility of the ABI and the on-disk format within one major).
pub const AOF_VERSION_MAJOR: u32 = 0;
/// Minor version.
pub const AOF_VERSION_MINOR: u32 = 1;
/// Patch version.
pub const AOF_VERSION_PATCH: u32 = 0;
/// The version as a string, `"MAJOR.MINOR.PATCH"`. cbindgen cannot emit string constants:
/// the header builds its `AOF_VERSION_STRING` from the three numbers (`cbindgen.toml`,
/// `after_includes`), and a C test compares it with `aof_version()`.
pub const AOF_VERSION_STRING: &str = "0.1.0";
/// The version as a number: `MAJOR * 10000 + MINOR * 100 + PATCH`.
pub const AOF_VERSION_NUMBER: u32 =
    AOF_VERSION_MAJOR * 10000 + AOF_VERSION_MINOR * 100 + AOF_VERSION_PATCH;

/// The crate version, NUL-terminated.
const VERSION_CSTR: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(s) => s,
        Err(_) => panic!("the crate version contains a NUL"),
    };

/// The library's version string, `"MAJOR.MINOR.PATCH"` (static, never NULL).
#[no_mangle]
pub extern "C" fn aof_version() -> *const c_char {
    boundary::guard_value("aof_version", VERSION_CSTR.as_ptr(), || {
        VERSION_CSTR.as_ptr()
    })
}

/// The library's version number, `MAJOR * 10000 + MINOR * 100 + PATCH`.
#[no_mangle]
pub extern "C" fn aof_version_number() -> u32 {
    boundary::guard_value("aof_version_number", 0, || AOF_VERSION_NUMBER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_constants_match_the_crate_version() {
        assert_eq!(AOF_VERSION_STRING, env!("CARGO_PKG_VERSION"));
        assert_eq!(
            AOF_VERSION_STRING,
            format!("{AOF_VERSION_MAJOR}.{AOF_VERSION_MINOR}.{AOF_VERSION_PATCH}")
        );
        assert_eq!(
            AOF_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            AOF_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            AOF_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        let (minor, patch) = (AOF_VERSION_MINOR, AOF_VERSION_PATCH);
        assert!(
            minor < 100 && patch < 100,
            "the version number needs 2 digits each"
        );
        assert_eq!(aof_version_number(), AOF_VERSION_NUMBER);
        // SAFETY: `aof_version` returns a static C string.
        let runtime = unsafe { CStr::from_ptr(aof_version()) };
        assert_eq!(runtime.to_str().unwrap(), AOF_VERSION_STRING);
    }
}

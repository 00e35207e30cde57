//! C ABI (written by the FFI work).

//! A value alone on its cache lines, so that a counter one thread updates on every append
//! does not slow down another thread reading its neighbour (false sharing). 128 bytes
//! covers the adjacent-line prefetcher of x86 as well as 128-byte-line CPUs.

use std::ops::Deref;

#[derive(Debug, Default)]
#[repr(align(128))]
pub struct Padded<T>(pub T);

impl<T> Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

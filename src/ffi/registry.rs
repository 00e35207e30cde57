//! Handles as tokens: the process-wide tables behind `aof_log_t`, `aof_manager_t` and
//! `aof_completion_queue_t`.
//!
//! A handle is a number the library looks up in its kind's table on every call and never
//! dereferences. That is what lets a call on a closed handle return `AOF_ERR_CLOSED`
//! instead of touching freed memory. See [`token`] for how tokens are made so that stray
//! values (small integers, pointers, garbage) do not reach a live object, and each kind has
//! tokens of its own, so that a handle of one kind passed as another is
//! `AOF_ERR_INVALID_ARG` (never issued), not a closed handle.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};

use super::boundary::{Failure, FfiResult};
use super::status::AOF_ERR_CLOSED;

/// One kind of handle: the live objects by token.
pub(crate) struct Registry<T> {
    /// What the messages call a handle of this kind (`log`, `manager`, `completion queue`).
    kind: &'static str,
    /// The calls that hand out such handles, for the message about a bogus one.
    issued_by: &'static str,
    tokens: token::Tokens,
    live: RwLock<BTreeMap<u64, Arc<T>>>,
}

impl<T> Registry<T> {
    /// `tweak` tells the kind's tokens apart from every other kind's: distinct per kind,
    /// and at least 2^62 away from the others in XOR (see [`token::Tokens`]).
    /// Taken: `aof_log_t` 0, `aof_manager_t` 2^62, `aof_completion_queue_t` 2^63; the one
    /// value left at that distance is 3 * 2^62.
    pub const fn new(kind: &'static str, issued_by: &'static str, tweak: u64) -> Self {
        Registry {
            kind,
            issued_by,
            tokens: token::Tokens::new(tweak),
            live: RwLock::new(BTreeMap::new()),
        }
    }

    /// Stores `value` under a new token and returns the handle's address.
    pub fn insert(&self, value: T) -> usize {
        let token = self.tokens.issue();
        self.live
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, Arc::new(value));
        token::to_addr(token)
    }

    /// The object behind the handle at `addr`. The table's lock is held only to clone the
    /// `Arc`.
    pub fn get(&self, addr: usize) -> FfiResult<Arc<T>> {
        let token = token::from_addr(addr);
        let live = self.live.read().unwrap_or_else(PoisonError::into_inner);
        live.get(&token).cloned().ok_or_else(|| self.unknown(token))
    }

    /// Takes the handle at `addr` out of the table: every later call with it fails with
    /// `AOF_ERR_CLOSED`. Calls that already hold the object finish with it.
    pub fn remove(&self, addr: usize) -> FfiResult<Arc<T>> {
        let token = token::from_addr(addr);
        let removed = self
            .live
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&token);
        removed.ok_or_else(|| self.unknown(token))
    }

    /// Why a token is not in the table: closed, or never a handle of this kind.
    fn unknown(&self, token: u64) -> Failure {
        if self.tokens.was_issued(token) {
            Failure::new(
                AOF_ERR_CLOSED,
                format!("{} handle {token:#x} was closed", self.kind),
            )
        } else {
            Failure::invalid(format!(
                "{token:#x} is not a {} handle returned by {}",
                self.kind, self.issued_by
            ))
        }
    }
}

/// Handle tokens: a keyed permutation of a counter.
///
/// Each new handle takes the next value of its kind's counter, never reused (starting at 1),
/// and is `mix(counter)`, where `mix` is a bijection of the 64-bit integers (xorshifts,
/// multiplications by odd constants and additions, each invertible) keyed by 192 bits drawn
/// once per process from the OS (`getrandom`; the time, the process id and an address if
/// that fails), changed per kind. Counters whose token would be implausible as a handle are
/// skipped, so every token issued is at least 2^32 and has its low three bits not all zero:
/// no small integer and no aligned address is ever a live handle. Any other value that was
/// never issued matches a live handle only by equalling its token, which it does with
/// probability about (live handles) / 2^64, since the key is unknown to it.
///
/// `unmix` inverts `mix`, which keeps the distinction the table alone cannot make: a token
/// that decodes to a counter already taken was issued and is gone (closed); any other value
/// never was a handle of that kind.
pub(crate) mod token {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    /// Tokens are pointer-sized: a 64-bit permutation needs 64-bit pointers.
    const _: () = assert!(usize::BITS == 64, "handle tokens need 64-bit pointers");

    static KEY: OnceLock<Key> = OnceLock::new();

    /// Tokens below this are never issued.
    pub(crate) const MIN_TOKEN: u64 = 1 << 32;
    /// At least one of these bits is set in every token issued.
    pub(crate) const LOW_BITS: u64 = 0b111;

    const M1: u64 = 0xbf58_476d_1ce4_e5b9;
    const M2: u64 = 0x94d0_49bb_1331_11eb;
    const M1_INV: u64 = mul_inverse(M1);
    const M2_INV: u64 = mul_inverse(M2);
    const _: () = assert!(M1.wrapping_mul(M1_INV) == 1 && M2.wrapping_mul(M2_INV) == 1);

    /// The inverse of an odd `m` modulo 2^64 (Newton's iteration: each step doubles the
    /// correct low bits, and `m` is its own inverse modulo 8).
    const fn mul_inverse(m: u64) -> u64 {
        let mut x = m;
        let mut i = 0;
        while i < 5 {
            x = x.wrapping_mul(2u64.wrapping_sub(m.wrapping_mul(x)));
            i += 1;
        }
        x
    }

    /// The inverse of `x ^= x >> s`.
    const fn unshift(y: u64, s: u32) -> u64 {
        let mut x = y;
        let mut done = s;
        while done < 64 {
            x = y ^ (x >> s);
            done += s;
        }
        x
    }

    /// The key of the permutation.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub(crate) struct Key {
        pre: u64,
        mid: u64,
        post: u64,
    }

    impl Key {
        pub(crate) const fn new(words: [u64; 3]) -> Key {
            Key {
                pre: words[0],
                mid: words[1],
                post: words[2],
            }
        }

        pub(crate) fn mix(self, counter: u64) -> u64 {
            let mut x = counter ^ self.pre;
            x ^= x >> 31;
            x = x.wrapping_mul(M1);
            x = x.wrapping_add(self.mid);
            x ^= x >> 29;
            x = x.wrapping_mul(M2);
            x ^= x >> 32;
            x ^ self.post
        }

        pub(crate) fn unmix(self, token: u64) -> u64 {
            let mut x = unshift(token ^ self.post, 32);
            x = unshift(x.wrapping_mul(M2_INV), 29);
            x = x.wrapping_sub(self.mid);
            x = unshift(x.wrapping_mul(M1_INV), 31);
            x ^ self.pre
        }
    }

    /// Whether `token` could have been issued.
    pub(crate) fn plausible(token: u64) -> bool {
        token >= MIN_TOKEN && token & LOW_BITS != 0
    }

    /// This process's key, drawn on first use.
    fn key() -> Key {
        *KEY.get_or_init(|| Key::new(os_random().unwrap_or_else(fallback_random)))
    }

    /// 192 bits from `getrandom`, without blocking (early in boot the pool may not be
    /// ready; then the fallback is good enough for telling handles apart).
    fn os_random() -> Option<[u64; 3]> {
        let mut buf = [0u8; 24];
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            // SAFETY: the pointer and length describe `rest`, writable bytes of `buf`.
            let n = unsafe {
                libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), libc::GRND_NONBLOCK)
            };
            match usize::try_from(n) {
                Ok(n) if n > 0 => filled += n,
                _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {}
                _ => return None,
            }
        }
        let word = |i: usize| u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().unwrap());
        Some([word(0), word(1), word(2)])
    }

    /// The time, the process id and an address (randomised by ASLR), spread by splitmix64.
    fn fallback_random() -> [u64; 3] {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let mut state =
            nanos ^ (u64::from(std::process::id()) << 32) ^ (&raw const KEY).addr() as u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(M1);
            z = (z ^ (z >> 27)).wrapping_mul(M2);
            z ^ (z >> 31)
        };
        [next(), next(), next()]
    }

    /// The tokens of one kind of handle: its own counter, and the process key with `pre`
    /// changed by a constant of the kind, so that each kind has its own permutation. A token
    /// of one kind decodes, under another kind's key, to a counter about 2^62 away from its
    /// own (`tweak` is large), which no counter reaches: never issued.
    pub(crate) struct Tokens {
        /// The next counter; 0 is never issued.
        next: AtomicU64,
        tweak: u64,
    }

    impl Tokens {
        pub(crate) const fn new(tweak: u64) -> Tokens {
            Tokens {
                next: AtomicU64::new(1),
                tweak,
            }
        }

        fn key(&self) -> Key {
            let k = key();
            Key {
                pre: k.pre ^ self.tweak,
                ..k
            }
        }

        /// A new token: the next counter whose token is plausible.
        pub(crate) fn issue(&self) -> u64 {
            let key = self.key();
            loop {
                let token = key.mix(self.next.fetch_add(1, Ordering::Relaxed));
                if plausible(token) {
                    return token;
                }
            }
        }

        /// Whether `token` was issued by [`Tokens::issue`] (and so, if no object has it,
        /// was closed).
        pub(crate) fn was_issued(&self, token: u64) -> bool {
            let counter = self.key().unmix(token);
            plausible(token) && (1..self.next.load(Ordering::Relaxed)).contains(&counter)
        }
    }

    /// The handle's address: tokens are pointer-sized (checked above).
    pub(crate) fn to_addr(token: u64) -> usize {
        token as usize
    }

    /// The token of a handle's address.
    pub(crate) fn from_addr(addr: usize) -> u64 {
        addr as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::status::AOF_ERR_INVALID_ARG;

    static A: Registry<u32> = Registry::new("thing", "aof_thing_new", 0);
    static B: Registry<u32> = Registry::new("other", "aof_other_new", 0xc000_0000_0000_0000);

    #[test]
    fn kinds_closed_and_bogus_handles() {
        let a = A.insert(7);
        let b = B.insert(8);
        assert_eq!(*A.get(a).unwrap(), 7);
        assert_eq!(*B.get(b).unwrap(), 8);
        // A handle of another kind is not a closed handle of this one.
        let err = A.get(b).unwrap_err();
        assert_eq!(err.status, AOF_ERR_INVALID_ARG);
        assert!(err
            .message
            .contains("is not a thing handle returned by aof_thing_new"));
        assert_eq!(B.get(a).unwrap_err().status, AOF_ERR_INVALID_ARG);
        assert_eq!(*A.remove(a).unwrap(), 7);
        let err = A.get(a).unwrap_err();
        assert_eq!(err.status, AOF_ERR_CLOSED);
        assert_eq!(err.message, format!("thing handle {a:#x} was closed"));
        assert_eq!(A.remove(a).unwrap_err().status, AOF_ERR_CLOSED);
        // A closed handle of another kind is not a closed handle of this one either.
        assert_eq!(B.get(a).unwrap_err().status, AOF_ERR_INVALID_ARG);
        for small in 0..=1000usize {
            assert_eq!(A.get(small).unwrap_err().status, AOF_ERR_INVALID_ARG);
        }
        // A new object never gets an old handle.
        assert_ne!(A.insert(9), a);
    }

    #[test]
    fn the_token_permutation_inverts_for_any_key() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let keys = [
            token::Key::new([0, 0, 0]),
            token::Key::new([u64::MAX; 3]),
            token::Key::new([next(), next(), next()]),
            token::Key::new([next(), next(), next()]),
        ];
        for key in keys {
            for x in (0..10_000).chain([u64::MAX, u64::MAX - 1, 1 << 63, 1 << 32]) {
                assert_eq!(key.unmix(key.mix(x)), x, "{key:?} {x}");
            }
            for _ in 0..10_000 {
                let x = next();
                assert_eq!(key.unmix(key.mix(x)), x, "{key:?} {x}");
                assert_eq!(key.mix(key.unmix(x)), x, "{key:?} {x}");
            }
            // Consecutive counters give unrelated tokens: neighbours differ in many bits.
            for x in 1..1000u64 {
                let d = (key.mix(x) ^ key.mix(x + 1)).count_ones();
                assert!(
                    d >= 8,
                    "{key:?}: tokens of {x} and {} differ in {d} bits",
                    x + 1
                );
            }
        }
    }

    #[test]
    fn issued_tokens_are_never_small_nor_aligned() {
        let tokens = token::Tokens::new(0x8000_0000_0000_0000);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let t = tokens.issue();
            assert!(t >= token::MIN_TOKEN, "{t:#x}");
            assert_ne!(t & token::LOW_BITS, 0, "{t:#x}");
            assert!(tokens.was_issued(t), "{t:#x}");
            assert!(seen.insert(t), "{t:#x} issued twice");
        }
        for small in 0..=1000u64 {
            assert!(!tokens.was_issued(small));
        }
    }
}

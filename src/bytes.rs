//! Byte helpers for the hot paths: short copies and comparisons done inline (the static musl build's `memcpy` and `memcmp` are slow), word-at-a-time byte scans, and the prefetch hint.
//!
//! The shipped Linux binaries link musl statically. Its `memcpy` starts a
//! `rep movsq` for every call and its `memcmp` walks byte by byte, so the
//! twenty short values of every row, copied and compared one call each,
//! made the musl build about a fifth slower than a glibc build of the same
//! code. These helpers move short slices in fixed-size pieces, which the
//! compiler turns into plain loads and stores, and leave long ones to the
//! library. They are no slower under glibc.
//!
//! [`prefetch`] is the cache hint for memory read in an order the hardware
//! cannot guess: sorted output, and the group table's slots.

use std::cmp::Ordering;

/// Above this length a copy goes to `extend_from_slice` (the library call
/// is then cheap beside the bytes it moves).
const SHORT: usize = 64;

/// Appends `v` to `out`, as `out.extend_from_slice(v)` does. A short `v`
/// is copied as two fixed-size pieces, its first and its last `N` bytes
/// (overlapping in the middle), into room made by one fixed-size store.
#[inline]
pub(crate) fn extend(out: &mut Vec<u8>, v: &[u8]) {
    let n = v.len();
    if n > SHORT {
        out.extend_from_slice(v);
        return;
    }
    let at = out.len();
    out.extend_from_slice(&[0; SHORT]);
    copy(&mut out[at..at + n], v);
    out.truncate(at + n);
}

/// Copies `v` to `dst`, of the same length, as `dst.copy_from_slice(v)`
/// does: a short `v` as two fixed-size pieces, as [`extend`] copies.
#[inline]
pub(crate) fn copy(dst: &mut [u8], v: &[u8]) {
    let n = v.len();
    if n > SHORT {
        dst.copy_from_slice(v);
        return;
    }
    match n {
        0 => {}
        1..=3 => {
            dst[0] = v[0];
            dst[n / 2] = v[n / 2];
            dst[n - 1] = v[n - 1];
        }
        4..=7 => ends::<4>(dst, v),
        8..=15 => ends::<8>(dst, v),
        16..=31 => ends::<16>(dst, v),
        _ => ends::<32>(dst, v),
    }
}

/// Copies `v` to `dst` (of its length, `N` to `2N` bytes) as its first and
/// its last `N` bytes.
#[inline]
fn ends<const N: usize>(dst: &mut [u8], v: &[u8]) {
    let n = v.len();
    dst[..N].copy_from_slice(&v[..N]);
    dst[n - N..n].copy_from_slice(&v[n - N..n]);
}

/// The first `N` bytes of `v`, which holds at least that many.
#[inline]
fn first<const N: usize>(v: &[u8]) -> &[u8; N] {
    v.get(..N)
        .and_then(|v| v.try_into().ok())
        .unwrap_or(&[0; N])
}

/// Asks for the cache line holding `x`, without waiting for it: on x86_64
/// a prefetch instruction (through `safe_arch`, as `unsafe` is not allowed
/// here), which retires at once, so the work in between goes on while the
/// line arrives. Elsewhere a plain load the optimiser must keep, whose
/// miss at least overlaps the other loads in flight.
#[inline(always)]
pub(crate) fn prefetch<T: Copy>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    safe_arch::prefetch_t0(x);
    #[cfg(not(target_arch = "x86_64"))]
    std::hint::black_box(*x);
}

/// The length of the common prefix of `a` and `b`, at most `limit`,
/// compared eight bytes at a time.
#[inline]
pub(crate) fn common_prefix(a: &[u8], b: &[u8], limit: usize) -> usize {
    let n = limit.min(a.len()).min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut i = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let diff = word(x) ^ word(y);
        if diff != 0 {
            return i + (diff.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    i + a[i..]
        .iter()
        .zip(&b[i..])
        .take_while(|(x, y)| x == y)
        .count()
}

/// Eight bytes (of at least that many) as a little-endian word.
#[inline]
pub(crate) fn word(c: &[u8]) -> u64 {
    u64::from_le_bytes(*first::<8>(c))
}

/// Each byte's lowest bit, for the word-at-a-time byte tests.
const ONES: u64 = u64::MAX / 255;

/// Whether `v` holds a byte below `limit` (at most 128), eight bytes at a
/// time: the exact has-less-than test on each word, the last word the
/// slice's last eight bytes (overlapping the one before), and a slice
/// shorter than a word read as two overlapping halves or its bytes, so no
/// loop runs byte by byte.
#[inline]
pub(crate) fn has_byte_below(v: &[u8], limit: u8) -> bool {
    let below = |w: u64| w.wrapping_sub(ONES * u64::from(limit)) & !w & (ONES << 7) != 0;
    let n = v.len();
    if n < 8 {
        return match n {
            0 => false,
            1..=3 => v[0] < limit || v[n / 2] < limit || v[n - 1] < limit,
            _ => {
                let half = |at: usize| u64::from(u32::from_le_bytes(*first::<4>(&v[at..])));
                below(half(0) | half(n - 4) << 32)
            }
        };
    }
    let mut words = v.chunks_exact(8);
    if words.any(|w| below(word(w))) {
        return true;
    }
    !words.remainder().is_empty() && below(word(&v[n - 8..]))
}

/// The index of the first zero byte of the little-endian word `w`, if it
/// has one: the lowest bit the has-zero-byte test sets is exact.
#[inline]
pub(crate) fn first_zero_byte(w: u64) -> Option<usize> {
    let zero = w.wrapping_sub(ONES) & !w & (ONES << 7);
    (zero != 0).then(|| (zero.trailing_zeros() / 8) as usize)
}

/// The zero bytes of a 16-byte block, bit `i` for byte `i`: one SSE2
/// compare and mask on x86_64 (every such CPU has it), [`zeros_16_words`]
/// elsewhere.
#[inline]
pub(crate) fn zeros_16(block: &[u8; 16]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        use safe_arch::{
            cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i, zeroed_m128i,
        };
        let zeros = cmp_eq_mask_i8_m128i(load_unaligned_m128i(block), zeroed_m128i());
        // One bit a byte: the low 16 bits.
        move_mask_i8_m128i(zeros) as u32
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        zeros_16_words(block)
    }
}

/// [`zeros_16`] a word at a time: each byte's top bit set unless the byte
/// is zero (exact for every byte, no borrow crosses bytes), and those bits
/// gathered into one byte by a multiply.
#[cfg_attr(all(target_arch = "x86_64", not(test)), allow(dead_code))]
#[inline]
fn zeros_16_words(block: &[u8; 16]) -> u32 {
    const LOW7: u64 = !(ONES << 7);
    let half = |w: u64| {
        let nonzero = (w & LOW7).wrapping_add(LOW7) | w;
        let zero = !nonzero & (ONES << 7);
        ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
    };
    half(word(block)) | half(word(&block[8..])) << 8
}

/// The index of the first zero byte of a 16-byte block, if it has one ([`zeros_16`]).
#[inline]
pub(crate) fn first_zero_in_16(block: &[u8; 16]) -> Option<usize> {
    let mask = zeros_16(block);
    (mask != 0).then(|| mask.trailing_zeros() as usize)
}

/// The index of the first NUL byte of `v` (its length when there is none),
/// eight bytes at a time ([`first_zero_byte`]).
#[inline]
pub(crate) fn first_nul(v: &[u8]) -> usize {
    let mut words = v.chunks_exact(8);
    let mut at = 0;
    for w in &mut words {
        if let Some(i) = first_zero_byte(word(w)) {
            return at + i;
        }
        at += 8;
    }
    let rem = words.remainder();
    at + rem.iter().position(|&b| b == 0).unwrap_or(rem.len())
}

/// `a == b`, eight bytes at a time.
#[inline]
pub(crate) fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && common_prefix(a, b, a.len()) == a.len()
}

/// `a.cmp(b)`: bytewise, a prefix first.
#[inline]
pub(crate) fn compare(a: &[u8], b: &[u8]) -> Ordering {
    let n = common_prefix(a, b, usize::MAX);
    match (a.get(n), b.get(n)) {
        (Some(x), Some(y)) => x.cmp(y),
        _ => a.len().cmp(&b.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn extend_appends_the_slice(head in proptest::collection::vec(any::<u8>(), 0..8),
                                    v in proptest::collection::vec(any::<u8>(), 0..150)) {
            let mut out = head.clone();
            extend(&mut out, &v);
            let mut want = head;
            want.extend_from_slice(&v);
            prop_assert_eq!(out, want);
        }

        #[test]
        fn has_byte_below_is_the_bytewise_rule(v in proptest::collection::vec(any::<u8>(), 0..40), limit in 0u8..=128) {
            prop_assert_eq!(has_byte_below(&v, limit), v.iter().any(|&b| b < limit));
        }

        #[test]
        fn has_byte_below_finds_one_byte_anywhere(v in proptest::collection::vec(prop::sample::select(vec![b',', b'-', b'z', 0x80]), 0..20)) {
            // Mostly bytes at or above the limit, so one below it decides.
            prop_assert_eq!(has_byte_below(&v, b'-'), v.contains(&b','));
        }

        #[test]
        fn zeros_16_marks_every_zero_byte(v in proptest::array::uniform16(0u8..3)) {
            let want = (v.iter().enumerate()).fold(0u32, |m, (i, &b)| m | u32::from(b == 0) << i);
            prop_assert_eq!(zeros_16(&v), want);
            prop_assert_eq!(zeros_16_words(&v), want);
            prop_assert_eq!(first_zero_in_16(&v), v.iter().position(|&b| b == 0));
        }

        #[test]
        fn first_nul_is_the_first_zero_byte(v in proptest::collection::vec(0u8..3, 0..40)) {
            prop_assert_eq!(first_nul(&v), v.iter().position(|&b| b == 0).unwrap_or(v.len()));
        }

        #[test]
        fn comparisons_agree_with_slices(a in proptest::collection::vec(0u8..4, 0..40),
                                         b in proptest::collection::vec(0u8..4, 0..40),
                                         limit in 0usize..50) {
            prop_assert_eq!(equal(&a, &b), a == b);
            prop_assert_eq!(compare(&a, &b), a.cmp(&b));
            let shared = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
            prop_assert_eq!(common_prefix(&a, &b, limit), shared.min(limit));
        }
    }

    #[test]
    fn every_length_up_to_and_past_short_copies_whole() {
        let v: Vec<u8> = (0..=255).collect();
        for len in 0..=SHORT + 2 {
            let mut out = vec![9];
            extend(&mut out, &v[..len]);
            assert_eq!(&out[1..], &v[..len]);
            let mut dst = vec![7; len + 2];
            copy(&mut dst[1..=len], &v[..len]);
            assert_eq!((dst[0], &dst[1..=len], dst[len + 1]), (7, &v[..len], 7));
        }
    }
}

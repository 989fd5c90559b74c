//! The body scanner's vector loops (the needle pair, the quote parity, the decoder's quote and separator bits), built for the baseline CPU and, on x86_64, again for AVX2, chosen at run time.
//!
//! The pair search and the baseline quote count are plain safe Rust that
//! the compiler vectorises: 16-byte vectors for the x86_64 baseline (SSE2)
//! and aarch64 (NEON), 32-byte ones in the AVX2 build, about half the
//! instructions a byte. The AVX2 quote count and the decoder's bits are
//! written with AVX2's intrinsics (the count to end without a tail loop),
//! the baseline bits with SSE2's through `safe_arch`. The unsafe code is the
//! calls into the AVX2 builds, made once the CPU is seen to have it
//! (`is_x86_feature_detected!` caches what it found), and their unaligned
//! loads. splunkd's x86_64 hosts need not have AVX2, so it cannot be
//! assumed at compile time.
#![allow(unsafe_code)]

/// Whether `s` holds an odd number of `"` bytes: one wrapping byte sum over
/// the whole slice (the parity survives the wrap), which the compiler turns
/// into vector compares with a single reduction at the end.
#[inline]
pub(crate) fn quotes_odd(s: &[u8]) -> bool {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has AVX2 and POPCNT, all that `quotes_odd_avx2` requires.
        return unsafe { quotes_odd_avx2(s) };
    }
    quotes_odd_any(s)
}

/// [`quotes_odd`] with AVX2 compares: a wrapping count in each of 32 byte
/// lanes (the parity survives the wrap) over the whole 32-byte blocks, then
/// the text's last 32 bytes read again with the lanes already counted
/// masked out, and the parity of the lanes' low bits. No loop runs over a
/// tail: a splunkd line ends anywhere in a block, and the compiler's
/// vectorised byte sum left up to 127 bytes to steps of eight and of one,
/// most of its cost on a line of 400 bytes.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,popcnt")]
fn quotes_odd_avx2(s: &[u8]) -> bool {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8,
        _mm256_set1_epi8, _mm256_setzero_si256, _mm256_slli_epi16, _mm256_sub_epi8,
    };
    /// 32 zero bytes then 32 of all ones: the 32 bytes from `n` keep the
    /// last `n` lanes.
    static KEEP_LAST: [u8; 64] = {
        let mut keep = [0u8; 64];
        let mut i = 32;
        while i < 64 {
            keep[i] = 0xff;
            i += 1;
        }
        keep
    };
    if s.len() < 32 {
        return quotes_odd_any(s);
    }
    let load = |b: &[u8]| {
        let b: &[u8; 32] = b.first_chunk().unwrap_or(&[0; 32]);
        // SAFETY: `b` is 32 readable bytes, and the load takes any alignment.
        unsafe { _mm256_loadu_si256(b.as_ptr().cast::<__m256i>()) }
    };
    let quote = _mm256_set1_epi8(b'"' as i8);
    let mut lanes = _mm256_setzero_si256();
    let mut blocks = s.chunks_exact(32);
    for block in &mut blocks {
        lanes = _mm256_sub_epi8(lanes, _mm256_cmpeq_epi8(load(block), quote));
    }
    let rest = blocks.remainder().len();
    if rest > 0 {
        let last = _mm256_cmpeq_epi8(load(&s[s.len() - 32..]), quote);
        let keep = load(&KEEP_LAST[rest..]);
        lanes = _mm256_sub_epi8(lanes, _mm256_and_si256(last, keep));
    }
    // Each lane's low bit to its top bit, where the mask reads it.
    let low = _mm256_movemask_epi8(_mm256_slli_epi16::<7>(lanes));
    low.count_ones() & 1 == 1
}

/// [`quotes_odd`] for whatever CPU the caller was compiled for.
#[inline(always)]
fn quotes_odd_any(s: &[u8]) -> bool {
    let mut n = 0u8;
    for &b in s {
        n = n.wrapping_add(u8::from(b == b'"'));
    }
    n & 1 == 1
}

/// The quote bits and the separator bits (`,`, `\r`, `\n`) of 64 bytes,
/// bit `i` for byte `i`: the decoder's view of a stretch of a record.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn block_bits(block: &[u8; 64]) -> (u64, u64) {
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, all that `block_bits_avx2` requires.
        return unsafe { block_bits_avx2(block) };
    }
    block_bits_sse2(block)
}

/// [`block_bits`] with AVX2 compares, two 32-byte halves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn block_bits_avx2(block: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_or_si256,
        _mm256_set1_epi8,
    };
    let (low, high) = block.split_at(32);
    // SAFETY: each half is 32 readable bytes, and the load takes any alignment.
    let (low, high) = unsafe {
        (
            _mm256_loadu_si256(low.as_ptr().cast::<__m256i>()),
            _mm256_loadu_si256(high.as_ptr().cast::<__m256i>()),
        )
    };
    let splat = |b: u8| i8::from_ne_bytes([b]);
    let quote = _mm256_set1_epi8(splat(b'"'));
    let (comma, cr, lf) = (
        _mm256_set1_epi8(splat(b',')),
        _mm256_set1_epi8(splat(b'\r')),
        _mm256_set1_epi8(splat(b'\n')),
    );
    // No closures over the intrinsics: a closure is not built for AVX2.
    let quotes_low = _mm256_movemask_epi8(_mm256_cmpeq_epi8(low, quote)) as u32;
    let quotes_high = _mm256_movemask_epi8(_mm256_cmpeq_epi8(high, quote)) as u32;
    let separators_low = _mm256_movemask_epi8(_mm256_or_si256(
        _mm256_cmpeq_epi8(low, comma),
        _mm256_or_si256(_mm256_cmpeq_epi8(low, cr), _mm256_cmpeq_epi8(low, lf)),
    )) as u32;
    let separators_high = _mm256_movemask_epi8(_mm256_or_si256(
        _mm256_cmpeq_epi8(high, comma),
        _mm256_or_si256(_mm256_cmpeq_epi8(high, cr), _mm256_cmpeq_epi8(high, lf)),
    )) as u32;
    (
        u64::from(quotes_low) | u64::from(quotes_high) << 32,
        u64::from(separators_low) | u64::from(separators_high) << 32,
    )
}

/// [`block_bits`] with SSE2 compares, which every x86_64 CPU has.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_bits_sse2(block: &[u8; 64]) -> (u64, u64) {
    use safe_arch::{
        bitor_m128i, cmp_eq_mask_i8_m128i, load_unaligned_m128i, move_mask_i8_m128i,
        set_splat_i8_m128i,
    };
    let splat = |b: u8| set_splat_i8_m128i(i8::from_ne_bytes([b]));
    let (quote, comma, cr, lf) = (splat(b'"'), splat(b','), splat(b'\r'), splat(b'\n'));
    let (mut quotes, mut separators) = (0u64, 0u64);
    for (i, lane) in block.chunks_exact(16).enumerate() {
        let v = load_unaligned_m128i(lane.try_into().unwrap_or(&[0; 16]));
        let q = cmp_eq_mask_i8_m128i(v, quote);
        let s = bitor_m128i(
            cmp_eq_mask_i8_m128i(v, comma),
            bitor_m128i(cmp_eq_mask_i8_m128i(v, cr), cmp_eq_mask_i8_m128i(v, lf)),
        );
        // Each mask is 16 bits, one a byte.
        let mask = |m| u64::from(move_mask_i8_m128i(m) as u16);
        quotes |= mask(q) << (16 * i);
        separators |= mask(s) << (16 * i);
    }
    (quotes, separators)
}

/// The offset of the first 64-byte block of `a` and `b` (of equal, whole
/// block lengths) with a place where `a`'s byte is `c1` with the bits of
/// `m1` set and `b`'s is `c2` with those of `m2`, given as `[m1, c1, m2,
/// c2]`. A loop of its own, so nothing but the search is live in it: it
/// compiles to vector compares over the two runs with no spills.
#[inline(never)]
pub(crate) fn first_pair_block(a: &[u8], b: &[u8], pair: [u8; 4]) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, all that `first_pair_block_avx2` requires.
        return unsafe { first_pair_block_avx2(a, b, pair) };
    }
    first_pair_block_any(a, b, pair)
}

/// [`first_pair_block_any`] compiled for AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn first_pair_block_avx2(a: &[u8], b: &[u8], pair: [u8; 4]) -> Option<usize> {
    first_pair_block_any(a, b, pair)
}

/// [`first_pair_block`] for whatever CPU the caller was compiled for.
#[inline(always)]
fn first_pair_block_any(a: &[u8], b: &[u8], [m1, c1, m2, c2]: [u8; 4]) -> Option<usize> {
    a.chunks_exact(64)
        .zip(b.chunks_exact(64))
        .position(|(a, b)| {
            a.iter().zip(b).fold(0u8, |h, (&x, &y)| {
                h | (u8::from((x | m1) == c1) & u8::from((y | m2) == c2))
            }) != 0
        })
        .map(|n| n * 64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Whichever build this CPU runs answers as the baseline build does,
        // and the baseline as a plain search.
        #[test]
        fn the_chosen_build_answers_as_the_baseline(
            text in prop::collection::vec(
                prop::sample::select(vec![b'"', b'a', b'G', b'g', b'v', b'V', b'\n', b',', b'\r']),
                0..700,
            ),
            from in 0usize..64,
        ) {
            let s = &text[from.min(text.len())..];
            prop_assert_eq!(quotes_odd(s), quotes_odd_any(s));
            #[cfg(target_arch = "x86_64")]
            for block in s.chunks_exact(64) {
                let block: &[u8; 64] = block.try_into().unwrap();
                let bits = |want: &dyn Fn(u8) -> bool| {
                    (0..64).filter(|&i| want(block[i])).fold(0u64, |m, i| m | 1 << i)
                };
                let naive = (bits(&|b| b == b'"'), bits(&|b| matches!(b, b',' | b'\r' | b'\n')));
                prop_assert_eq!(block_bits(block), naive);
                prop_assert_eq!(block_bits_sse2(block), naive);
            }
            prop_assert_eq!(quotes_odd_any(s), s.iter().filter(|&&b| b == b'"').count() % 2 == 1);
            let blocks = s.len() / 64 * 64;
            let (a, b) = (&s[..blocks], &text[..blocks]);
            let pair = [0x20, b'g', 0x20, b'v'];
            prop_assert_eq!(first_pair_block(a, b, pair), first_pair_block_any(a, b, pair));
            let naive = (0..blocks / 64).find(|&n| {
                (0..64).any(|i| (a[64 * n + i] | 0x20) == b'g' && (b[64 * n + i] | 0x20) == b'v')
            });
            prop_assert_eq!(first_pair_block_any(a, b, pair), naive.map(|n| n * 64));
        }
    }
}

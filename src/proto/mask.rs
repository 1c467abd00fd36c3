//! Payload masking (RFC 6455 §5.3): `payload[i] ^= key[(offset + i) % 4]`.
//!
//! The fast path works on 16-byte words so the compiler can vectorize it; the
//! naive byte loop is the reference it is tested against for every length,
//! offset and alignment.

/// XOR `buf` with `key` in place, as if `buf` started `offset` bytes into the
/// masked payload. Returns nothing; masking is its own inverse.
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that byte 0 of `buf` uses key[offset % 4].
    let mut key = key;
    key.rotate_left(offset % 4);
    let mut wide_bytes = [0u8; 16];
    for quad in wide_bytes.chunks_exact_mut(4) {
        quad.copy_from_slice(&key);
    }
    let wide = u128::from_ne_bytes(wide_bytes);
    let mut chunks = buf.chunks_exact_mut(16);
    for chunk in &mut chunks {
        let mut word = [0u8; 16];
        word.copy_from_slice(chunk);
        let v = u128::from_ne_bytes(word) ^ wide;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (byte, m) in chunks.into_remainder().iter_mut().zip(key.iter().cycle()) {
        *byte ^= m;
    }
}

/// The byte-at-a-time reference implementation.
pub fn apply_mask_naive(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (byte, k) in buf.iter_mut().zip(key.iter().cycle().skip(offset % 4)) {
        *byte ^= k;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_path_matches_naive_for_every_length_offset_and_alignment() {
        let key = [0x37, 0xfa, 0x21, 0x3d];
        let source: Vec<u8> = (0..200u32).map(|i| (i * 31 + 7) as u8).collect();
        for align in 0..16 {
            for len in 0..(200 - align).min(100) {
                for offset in 0..8 {
                    let mut fast = source.clone();
                    let mut slow = source.clone();
                    apply_mask(&mut fast[align..align + len], key, offset);
                    apply_mask_naive(&mut slow[align..align + len], key, offset);
                    assert_eq!(fast, slow, "align {align} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn rfc_example_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut buf = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut buf, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&buf, b"Hello");
    }

    #[test]
    fn split_masking_equals_whole() {
        let key = [1, 2, 3, 4];
        let orig: Vec<u8> = (0..77u8).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..orig.len() {
            let mut parts = orig.clone();
            let (a, b) = parts.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            assert_eq!(parts, whole, "cut {cut}");
        }
    }
}

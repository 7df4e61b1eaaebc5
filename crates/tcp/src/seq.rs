//! Wrap-safe sequence numbers.
//!
//! TCP sequence numbers live on a 2^32 circle. Comparing them as plain integers breaks at the
//! wrap, so all comparisons go through [`SeqNumber`], which orders two numbers by their signed
//! distance (valid while they are less than 2^31 apart, as RFC 9293 assumes).

use std::cmp::Ordering;

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance from `other` to `self`.
    pub fn diff(self, other: SeqNumber) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self + n` on the circle.
    pub fn plus(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(n))
    }

    /// `self - n` on the circle.
    pub fn minus(self, n: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(n))
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

/// Maps 32-bit sequence numbers of one direction to 64-bit positions relative to its base
/// (the SYN's sequence number, or the one before the first byte seen), by choosing the
/// 64-bit value nearest a reference position that moves with the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unwrapper {
    base: SeqNumber,
}

impl Unwrapper {
    /// Positions are counted from `base` (position 0).
    pub fn new(base: SeqNumber) -> Unwrapper {
        Unwrapper { base }
    }

    /// The base sequence number.
    pub fn base(&self) -> SeqNumber {
        self.base
    }

    /// The position of `seq`, taken as the one within 2^31 of `near` (a position already
    /// known to be in the stream). Negative when `seq` lies before the base.
    pub fn position(&self, seq: SeqNumber, near: i64) -> i64 {
        let near_seq = self.base.plus(near as u32);
        near + i64::from(seq.diff(near_seq))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_survives_the_wrap() {
        let a = SeqNumber(0xffff_fff0);
        let b = a.plus(0x20); // 0x10 after wrapping
        assert_eq!(b.0, 0x10);
        assert!(b > a);
        assert!(a < b);
        assert_eq!(b.diff(a), 0x20);
        assert_eq!(a.diff(b), -0x20);
    }

    #[test]
    fn positions_are_64_bit_past_4_gib() {
        let u = Unwrapper::new(SeqNumber(0xffff_ff00));
        assert_eq!(u.position(SeqNumber(0xffff_ff00), 0), 0);
        assert_eq!(u.position(SeqNumber(0x0000_0100), 0), 0x200);
        // Near 5 GiB into the stream, the same 32-bit value means 4 GiB further.
        let far = 5i64 << 30;
        let seq = u.base().plus(far as u32);
        assert_eq!(u.position(seq, far - 1000), far);
        // Before the base.
        assert_eq!(u.position(SeqNumber(0xffff_fe00), 0), -0x100);
    }
}

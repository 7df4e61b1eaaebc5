//! Cache hints: the record walk's read-ahead, and [`prefetch`] for other stages.

/// How far ahead of the record being read the bytes are asked for. 1 GB generated capture,
/// 9 interleaved rounds at 1 thread: 2, 4 and 8 KiB gave the same time (within 2 %), 32 KiB
/// was slower. A few microseconds of reading at the walk's rate, so the lines arrive in time
/// however long the packets are, and well inside the L1/L2 caches.
const AHEAD: usize = 4096;

/// Asks the CPU for every cache line of the capture a fixed distance ahead of the walk.
///
/// Walking records is a dependent chain: the next record's address is known only once the
/// current header is read, and records are hundreds of bytes apart, so each header is a
/// cache miss that the hardware prefetcher does not foresee (it stops at page boundaries and
/// needs a regular stride). Asking for the next record only, as soon as its offset was known,
/// overlapped one packet's decoding with the load but still left the header read as the
/// single hottest instruction of the run (85 % of the framing loop's samples). Streaming the
/// lines ahead costs one prefetch per 64 bytes, a dozen instructions per average packet, and
/// the header is in the cache when the walk gets there. 1 GB generated capture, 9
/// interleaved rounds, median wall: the header walk 0.147 -> 0.054 s, analyze 0.541 -> 0.477 s
/// at 1 thread and 0.306 -> 0.282 s at 2.
pub(crate) struct ReadAhead {
    /// The first byte not yet asked for.
    next: usize,
}

impl ReadAhead {
    /// Read-ahead for a walk starting at `at`.
    pub(crate) fn new(at: usize) -> ReadAhead {
        ReadAhead { next: at }
    }

    /// The walk is at `buf[at]`: ask for the lines up to `AHEAD` bytes past it.
    #[inline(always)]
    pub(crate) fn advance(&mut self, buf: &[u8], at: usize) {
        let to = at.saturating_add(AHEAD).min(buf.len());
        let mut line = self.next.max(at);
        while line < to {
            hint(buf.as_ptr().wrapping_add(line));
            line += 64;
        }
        self.next = line;
    }
}

/// Asks the CPU for every cache line holding `value`, to be read or written soon.
///
/// For memory that has gone cold and will be touched a little later than the hint, such as a
/// queue slot several packets before it is filled. A hint never faults and changes no result.
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    // A line per 64 bytes from the first byte, and the last byte's line: every line the value
    // touches whatever its alignment.
    prefetch_bytes((value as *const T).cast::<u8>(), size_of::<T>());
}

/// Asks the CPU for every cache line of the `len` bytes from `first`: for a value whose
/// state is read a few lines at a time (see `Connection::hot_parts`). Any address is
/// allowed: a hint never faults, reads into a register or writes.
#[inline(always)]
pub fn prefetch_bytes(first: *const u8, len: usize) {
    let mut off = 0;
    while off < len {
        hint(first.wrapping_add(off));
        off += 64;
    }
    if len > 1 {
        hint(first.wrapping_add(len - 1));
    }
}

/// One line's hint.
#[inline(always)]
#[allow(unsafe_code)]
fn hint(byte: *const u8) {
    // SAFETY: `_mm_prefetch` needs SSE, which is in the x86_64 baseline, and is a hint that
    // never faults, reads into a register or writes, whatever the address.
    #[cfg(target_arch = "x86_64")]
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(byte.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = byte;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every line from the walk's position to `AHEAD` past it has been asked for, none past
    /// the buffer, and none twice (`next` only moves forward).
    #[test]
    fn every_line_ahead_is_asked_for_once() {
        let buf = vec![0u8; 3 * AHEAD + 100];
        let walk = [
            10,
            11,
            700,
            701,
            2000,
            AHEAD + 5,
            2 * AHEAD,
            buf.len() - 1,
            buf.len(),
        ];
        let mut ahead = ReadAhead::new(10);
        let mut last = 10;
        for at in walk {
            ahead.advance(&buf, at);
            let next = ahead.next;
            assert!(next >= (at + AHEAD).min(buf.len()), "at {at}: next {next}");
            assert!(
                next < buf.len() + 64,
                "at {at}: next {next} past the buffer"
            );
            assert!(next >= last, "at {at}: next {next} moved back");
            last = next;
        }
    }
}

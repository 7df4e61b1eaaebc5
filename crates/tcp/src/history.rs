//! Zeek's connection history string.
//!
//! Each letter records a kind of packet the first time it is seen from a side (uppercase for
//! the originator, lowercase for the responder). SYN, FIN and RST letters repeat when a
//! later one carries a different sequence number; retransmissions (T), gaps (G), zero windows
//! (W) and bad checksums (C) repeat at 1, 10, 100, ... occurrences.

/// Packet kinds with a once-per-side letter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Syn = 0,
    Fin = 1,
    Rst = 2,
    FinRst = 3,
    Data = 4,
    Ack = 5,
    MultiFlag = 6,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct History {
    letters: String,
    seen: u32,
}

/// Counter and next threshold of a scaled letter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scaled {
    count: u32,
    threshold: u32,
}

impl Default for Scaled {
    fn default() -> Scaled {
        Scaled {
            count: 0,
            threshold: 1,
        }
    }
}

fn cased(code: char, is_orig: bool) -> char {
    if is_orig {
        code
    } else {
        code.to_ascii_lowercase()
    }
}

impl History {
    /// Record `code` for `kind` the first time this side shows it. Returns whether it had
    /// been seen before (Zeek's `CheckHistory`).
    pub(crate) fn check(&mut self, kind: Kind, is_orig: bool, code: char) -> bool {
        let bit = 1u32 << (kind as u32 + if is_orig { 0 } else { 16 });
        if self.seen & bit != 0 {
            return true;
        }
        self.seen |= bit;
        self.letters.push(cased(code, is_orig));
        false
    }

    /// Append a letter unconditionally.
    pub(crate) fn add(&mut self, is_orig: bool, code: char) {
        self.letters.push(cased(code, is_orig));
    }

    /// Count an occurrence of a scaled letter; the letter is added at 1, 10, 100, ...
    pub(crate) fn scaled(&mut self, is_orig: bool, code: char, s: &mut Scaled) {
        s.count += 1;
        if s.count == s.threshold {
            self.add(is_orig, code);
            match s.threshold.checked_mul(10) {
                Some(t) => s.threshold = t,
                None => s.count = 0,
            }
        }
    }

    pub(crate) fn letters(&self) -> &str {
        &self.letters
    }

    /// Zeek's role flip after a connection began with a lone SYN/ACK: the history "H"
    /// becomes "^h".
    pub(crate) fn replace(&mut self, s: &str) {
        self.letters.clear();
        self.letters.push_str(s);
    }

    pub(crate) fn flip_marker(&mut self) {
        self.letters.push('^');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_once_per_side_and_scaled_repeats() {
        let mut h = History::default();
        assert!(!h.check(Kind::Syn, true, 'S'));
        assert!(h.check(Kind::Syn, true, 'S'));
        assert!(!h.check(Kind::Syn, false, 'H'));
        assert!(!h.check(Kind::Ack, true, 'A'));
        let mut t = Scaled::default();
        for _ in 0..100 {
            h.scaled(false, 'T', &mut t);
        }
        // Added at the 1st, 10th and 100th retransmission.
        assert_eq!(h.letters(), "ShAttt");
    }
}

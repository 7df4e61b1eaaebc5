//! The floor every throughput figure is compared against: walk every record header of a
//! capture (parallel ranges, same windows as `analyze`) without decoding anything.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use wirehouse_capture::source::Source;
use wirehouse_capture::{Framer, Stop};

/// What a walk measured.
#[derive(Debug, Default, Clone)]
pub struct WalkStats {
    /// Records framed.
    pub packets: u64,
    /// Bytes of capture covered.
    pub bytes: u64,
    /// Wall-clock seconds.
    pub seconds: f64,
    /// The error that stopped the walk, if any.
    pub error: Option<String>,
}

/// Walk `path` with `ranges` parallel ranges per window of `window_bytes`.
pub fn walk(path: &Path, window_bytes: usize, ranges: usize) -> WalkStats {
    let started = Instant::now();
    let mut st = WalkStats::default();
    let mut source = match Source::open(path) {
        Ok(s) => s,
        Err(e) => {
            st.error = Some(e.to_string());
            return st;
        }
    };
    let (framer, first) = match Framer::new(source.format(), source.head()) {
        Ok(v) => v,
        Err(e) => {
            st.error = Some(e.to_string());
            return st;
        }
    };
    let mut framer = framer;
    let mut start = first as u64;
    let mut size = window_bytes;
    let mut prev = None;
    loop {
        let w = match source.window(start, size, prev.as_ref()) {
            Ok(w) => w,
            Err(e) => {
                st.error = Some(e.to_string());
                break;
            }
        };
        let len = w.len();
        let n = ranges.clamp(1, (len >> 20).max(1));
        // Parallel boundary search and framing; the stitch is the same as analyze's.
        let outs: Vec<(usize, usize, usize, u64, Stop, Framer)> = (0..n)
            .into_par_iter()
            .filter_map(|k| {
                let from = len * k / n;
                let to = len * (k + 1) / n;
                let s = if k == 0 {
                    Some(0)
                } else {
                    framer.find_boundary(&w, from, to)
                }?;
                let mut f = framer.clone();
                let mut count = 0u64;
                let p = f.frame(&w, w.base, s, to, |_| count += 1);
                Some((s, to, p.end, count, p.stop, f))
            })
            .collect();
        let mut end = 0;
        let mut stop = Stop::EndOfBuffer;
        for (s, to, e, count, st_, f) in outs {
            if end >= to {
                continue; // covered by the previous range's last record
            }
            if s != end {
                // A range whose start was not where the previous ended (or whose boundary
                // search failed): frame it from the right place.
                let _ = e;
                let mut f2 = framer.clone();
                let mut c2 = 0u64;
                let p = f2.frame(&w, w.base, end, to, |_| c2 += 1);
                st.packets += c2;
                end = p.end;
                stop = p.stop;
                framer = f2;
                continue;
            }
            st.packets += count;
            end = e;
            stop = st_;
            framer = f;
        }
        st.bytes += end as u64;
        match stop {
            Stop::Error(e) => {
                st.error = Some(e.to_string());
                break;
            }
            _ if w.at_eof => {
                if let Some((m, _)) = source.fault() {
                    st.error = Some(m.to_string());
                }
                break;
            }
            _ if end == 0 => size *= 2,
            _ => {}
        }
        start = w.base + end as u64;
        if let Some(old) = prev.replace(w) {
            source.recycle(old);
        }
    }
    st.seconds = started.elapsed().as_secs_f64();
    st
}

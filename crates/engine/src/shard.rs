//! A shard: the connections whose flow hash lands on it, and their analysis.

use wirehouse_output::TableBuilders;

/// Per-file counters a shard accumulates (taken when a file ends).
#[derive(Clone, Debug, Default)]
pub(crate) struct FileStats {
    pub(crate) connections: u64,
    pub(crate) evicted: u64,
    pub(crate) ooo_cap_hits: u64,
    pub(crate) datagrams_reassembled: u64,
    pub(crate) datagrams_abandoned: u64,
}

impl FileStats {
    pub(crate) fn add(&mut self, o: &FileStats) {
        self.connections += o.connections;
        self.evicted += o.evicted;
        self.ooo_cap_hits += o.ooo_cap_hits;
        self.datagrams_reassembled += o.datagrams_reassembled;
        self.datagrams_abandoned += o.datagrams_abandoned;
    }
}

pub(crate) struct Shard {
    #[allow(dead_code)]
    index: usize,
    stats: FileStats,
}

impl Shard {
    pub(crate) fn new(index: usize) -> Shard {
        Shard {
            index,
            stats: FileStats::default(),
        }
    }

    pub(crate) fn take_file_stats(&mut self) -> FileStats {
        std::mem::take(&mut self.stats)
    }

    pub(crate) fn finish(&mut self, _rows: &mut TableBuilders) {}
}

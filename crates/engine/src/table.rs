//! A shard's connection table: a dense index of 16-byte slots over boxed entries.
//!
//! Every packet looks its connection up, and on a busy link consecutive packets belong to
//! different connections, so each lookup is a cold read. `std`'s `HashMap` kept the
//! 48-byte key inline with the pointer, one 64-byte bucket per connection, and its bucket
//! read was one of the two hottest instructions of the run (1 GB generated capture with
//! 20,000 connections alive at once). Here a slot is the flow hash and the entry's pointer;
//! the key lives in the entry, which is read anyway, so a table of a shard's few hundred
//! connections is a few kilobytes that stay in the cache. And because a lookup that only
//! compares hashes touches nothing but slots, [`Table::get_by_hash`] can find an entry that a
//! packet a few places further down the queue will need, and ask for it, without waiting.
//!
//! Open addressing with linear probing, at most half full, and backward-shift deletion (no
//! tombstones, so lookups never slow down as connections come and go).

use wirehouse_capture::prefetch;

/// What the table stores: a value that knows its own key, and how that key is hashed.
pub(crate) trait Stored {
    type Key: Eq;
    fn key(&self) -> &Self::Key;
    /// The hash the table places `key` by.
    fn hash(key: &Self::Key) -> u64;
}

/// Slots in a new table (a power of two).
const MIN_SLOTS: usize = 16;

/// Spreads the flow hash over the slot bits. The shard index took the hash's top bits, which
/// all of one shard's keys share, so the slot comes from the bits a multiplication carries up.
const SPREAD: u64 = 0x9E37_79B9_7F4A_7C15;

pub(crate) struct Table<V: Stored> {
    /// Each occupied slot: the key's hash and its entry.
    slots: Vec<Option<(u64, Box<V>)>>,
    len: usize,
    /// `64 - log2(slots.len())`: the shift that leaves a hash's slot bits.
    shift: u32,
}

impl<V: Stored> Default for Table<V> {
    fn default() -> Self {
        Table {
            slots: Vec::new(),
            len: 0,
            shift: 64,
        }
    }
}

impl<V: Stored> Table<V> {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn home(&self, hash: u64) -> usize {
        // `shift` is at most 60 once there are slots; `checked_shr` covers the empty table.
        hash.wrapping_mul(SPREAD)
            .checked_shr(self.shift)
            .unwrap_or(0) as usize
    }

    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    /// The slot holding `key`.
    fn find(&self, key: &V::Key) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let hash = V::hash(key);
        let mask = self.mask();
        let mut i = self.home(hash);
        loop {
            match &self.slots[i] {
                None => return None,
                Some((h, v)) if *h == hash && v.key() == key => return Some(i),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    pub(crate) fn get(&self, key: &V::Key) -> Option<&V> {
        let i = self.find(key)?;
        self.slots[i].as_ref().map(|(_, v)| &**v)
    }

    pub(crate) fn get_mut(&mut self, key: &V::Key) -> Option<&mut V> {
        let i = self.find(key)?;
        self.slots[i].as_mut().map(|(_, v)| &mut **v)
    }

    /// The entry that a lookup of `hash` will most likely find: the first with that hash (a
    /// different key with the same 64-bit hash only wastes a cache hint). Reads slots only,
    /// not the entries, so it never waits on a cold entry: for asking the CPU for an entry
    /// ahead of time.
    #[inline]
    pub(crate) fn get_by_hash(&self, hash: u64) -> Option<&V> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(hash);
        while let Some((h, v)) = &self.slots[i] {
            if *h == hash {
                return Some(v);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Asks the CPU for the slot where a lookup of `hash` starts, a few packets before
    /// [`Table::get_by_hash`] reads it.
    #[inline]
    pub(crate) fn prefetch_slot(&self, hash: u64) {
        if let Some(slot) = self.slots.get(self.home(hash)) {
            prefetch(slot);
        }
    }

    /// Adds `value`, whose key must not be in the table yet.
    pub(crate) fn insert(&mut self, value: Box<V>) {
        debug_assert!(self.find(value.key()).is_none(), "key already present");
        let hash = V::hash(value.key());
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(hash, value);
        self.len += 1;
    }

    fn place(&mut self, hash: u64, value: Box<V>) {
        let mask = self.mask();
        let mut i = self.home(hash);
        while self.slots[i].is_some() {
            i = (i + 1) & mask;
        }
        self.slots[i] = Some((hash, value));
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(MIN_SLOTS);
        let old = std::mem::replace(&mut self.slots, (0..n).map(|_| None).collect());
        self.shift = 64 - n.trailing_zeros();
        for (hash, value) in old.into_iter().flatten() {
            self.place(hash, value);
        }
    }

    /// Takes `key`'s entry out. The entries after it in its probe run move back to fill the
    /// hole, so every entry stays reachable from its home slot without tombstones.
    pub(crate) fn remove(&mut self, key: &V::Key) -> Option<Box<V>> {
        let mut hole = self.find(key)?;
        let (_, value) = self.slots[hole].take()?;
        self.len -= 1;
        let mask = self.mask();
        let mut j = (hole + 1) & mask;
        while let Some((h, _)) = &self.slots[j] {
            let home = self.home(*h);
            // The entry at `j` may move to `hole` when its home is not in (hole, j]
            // (cyclically): then `hole` lies on its probe path.
            let home_in_between = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !home_in_between {
                self.slots[hole] = self.slots[j].take();
                hole = j;
            }
            j = (j + 1) & mask;
        }
        Some(value)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &V> {
        self.slots.iter().flatten().map(|(_, v)| &**v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Item {
        key: u32,
        value: u64,
    }

    impl Stored for Item {
        type Key = u32;
        fn key(&self) -> &u32 {
            &self.key
        }
        fn hash(key: &u32) -> u64 {
            hash(*key)
        }
    }

    /// Hashes that collide on purpose: few distinct slots, and equal 64-bit hashes for
    /// different keys, so probe runs are long and wrap around the end of the slots.
    fn hash(key: u32) -> u64 {
        u64::from(key % 7).wrapping_mul(0x1234_5678_9ABC_DEF1)
    }

    /// A random mix of inserts, removals and lookups against `std`'s map as the reference:
    /// the same answers at every step, and the same contents at the end.
    #[test]
    fn agrees_with_a_hash_map_through_inserts_and_removals() {
        let mut t: Table<Item> = Table::default();
        let mut want = std::collections::HashMap::new();
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for step in 0..20_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 300) as u32;
            match x % 3 {
                0 | 1 if !want.contains_key(&key) => {
                    t.insert(Box::new(Item { key, value: step }));
                    want.insert(key, step);
                }
                0 | 1 => {
                    let got = t.get_mut(&key).map(|i| {
                        i.value = step;
                        i.key
                    });
                    assert_eq!(got, Some(key));
                    want.insert(key, step);
                }
                _ => {
                    let got = t.remove(&key).map(|i| (i.key, i.value));
                    assert_eq!(got, want.remove(&key).map(|v| (key, v)), "step {step}");
                }
            }
            assert_eq!(t.len(), want.len());
            for k in [key, key.wrapping_add(7), key ^ 1] {
                assert_eq!(t.get(&k).map(|i| i.value), want.get(&k).copied());
            }
        }
        let mut got: Vec<(u32, u64)> = t.iter().map(|i| (i.key, i.value)).collect();
        got.sort_unstable();
        let mut all: Vec<(u32, u64)> = want.into_iter().collect();
        all.sort_unstable();
        assert_eq!(got, all);
    }

    /// Removing every entry leaves every slot empty (backward shift leaves no debris) and
    /// the table usable.
    #[test]
    fn emptied_table_has_no_leftovers() {
        let mut t: Table<Item> = Table::default();
        for key in 0..1000 {
            t.insert(Box::new(Item { key, value: 0 }));
        }
        assert!(t.slots.len() >= 2000);
        for key in (0..1000).rev() {
            assert!(t.remove(&key).is_some(), "key {key}");
            assert!(t.remove(&key).is_none());
        }
        assert_eq!(t.len(), 0);
        assert!(t.slots.iter().all(Option::is_none));
        t.insert(Box::new(Item { key: 5, value: 9 }));
        assert_eq!(t.get(&5).map(|i| i.value), Some(9));
        assert_eq!(t.get_by_hash(hash(5)).map(|i| i.key), Some(5));
        assert!(t.get_by_hash(hash(6)).is_none());
        t.prefetch_slot(hash(5));
    }
}

//! `Dict`: the map behind every database slice — a dense vector of entries plus a SwissTable of
//! 32-bit indices into it.
//!
//! Why not `HashMap` or `IndexMap`: a database needs O(1) random sampling (RANDOMKEY, active
//! expiry, eviction) and a SCAN cursor that never misses a key present for the whole scan; a
//! dense, insertion-ordered vector with `swap_remove` gives both (see `keyspace` module docs).
//! `IndexMap` has that shape but stores each entry's hash and grows its entry vector to the hash
//! table's capacity, which costs ~50% more memory per small key than Redis; here an entry is just
//! the key and value, the table holds 4-byte indices, and the vector grows on its own schedule.
//! Hashes are recomputed from keys when the table resizes.

use std::hash::BuildHasher;

use hashbrown::HashTable;

use super::value::Key;

type Hasher = foldhash::fast::FixedState;

const SEED: u64 = 0x7365_6564_6479;

pub struct Dict<V> {
    entries: Vec<(Key, V)>,
    table: HashTable<u32>,
}

impl<V> Default for Dict<V> {
    fn default() -> Self {
        Dict {
            entries: Vec::new(),
            table: HashTable::new(),
        }
    }
}

#[inline]
fn hash(k: &[u8]) -> u64 {
    Hasher::with_seed(SEED).hash_one(k)
}

impl<V> Dict<V> {
    /// Room for `n` entries without growing.
    pub fn with_capacity(n: usize) -> Self {
        Dict {
            entries: Vec::with_capacity(n),
            table: HashTable::with_capacity(n),
        }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.entries.capacity()
    }

    #[inline]
    fn find(&self, key: &[u8]) -> Option<usize> {
        let e = &self.entries;
        self.table
            .find(hash(key), |&i| e[i as usize].0.as_slice() == key)
            .map(|&i| i as usize)
    }

    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<&V> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    #[inline]
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut V> {
        let i = self.find(key)?;
        Some(&mut self.entries[i].1)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&mut self, key: Key, value: V) -> Option<V> {
        if let Some(i) = self.find(&key) {
            return Some(std::mem::replace(&mut self.entries[i].1, value));
        }
        self.insert_new(key, value);
        None
    }

    /// Inserts a key the caller has just looked up and not found, without probing again.
    pub fn insert_new(&mut self, key: Key, value: V) {
        debug_assert!(self.find(&key).is_none());
        let idx = self.entries.len() as u32;
        let h = hash(&key);
        let e = &self.entries;
        self.table
            .insert_unique(h, idx, |&i| hash(&e[i as usize].0));
        self.entries.push((key, value));
    }

    /// Removes `key`; the last entry moves into its place (see the module docs on SCAN).
    pub fn swap_remove(&mut self, key: &[u8]) -> Option<V> {
        let e = &self.entries;
        let slot = self
            .table
            .find_entry(hash(key), |&i| e[i as usize].0.as_slice() == key)
            .ok()?;
        let (idx, _) = slot.remove();
        let idx = idx as usize;
        let last = self.entries.len() - 1;
        if idx != last {
            let moved_hash = hash(&self.entries[last].0);
            if let Some(p) = self.table.find_mut(moved_hash, |&i| i as usize == last) {
                *p = idx as u32;
            }
        }
        Some(self.entries.swap_remove(idx).1)
    }

    #[inline]
    pub fn get_index(&self, i: usize) -> Option<(&Key, &V)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Key, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }

    pub fn shrink_to_fit(&mut self) {
        self.entries.shrink_to_fit();
        let e = &self.entries;
        self.table.shrink_to_fit(|&i| hash(&e[i as usize].0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Key {
        Key::from_slice(s.as_bytes())
    }

    #[test]
    fn insert_get_remove_keeps_indices_consistent() {
        let mut d: Dict<u32> = Dict::default();
        for i in 0..1000 {
            assert!(d.insert(k(&format!("k{i}")), i).is_none());
        }
        assert_eq!(d.insert(k("k5"), 55), Some(5));
        for i in (0..1000).step_by(3) {
            assert!(d.swap_remove(format!("k{i}").as_bytes()).is_some());
        }
        assert!(d.swap_remove(b"k0").is_none());
        for i in 0..1000u32 {
            let want = if i % 3 == 0 {
                None
            } else if i == 5 {
                Some(55)
            } else {
                Some(i)
            };
            assert_eq!(d.get(format!("k{i}").as_bytes()).copied(), want);
        }
        for (pos, (key, _)) in d.iter().enumerate() {
            assert_eq!(d.find(key), Some(pos));
        }
        d.shrink_to_fit();
        assert_eq!(d.get(b"k1"), Some(&1));
    }
}

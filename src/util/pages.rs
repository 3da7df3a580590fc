//! [`PageBuf`]: a growable byte buffer in its own anonymous memory mapping, for the few large,
//! short-lived buffers whose churn would otherwise scatter holes through malloc's heap.
//!
//! The change log's in-memory segments (64 KiB each) and the log writer's copy buffer come and
//! go with every write burst. From malloc they were carved out of the same heap as the keys a
//! burst creates: when the segments were freed, the pages between live keys stayed resident
//! (a burst of 100,000 SADDs into 1,000 sets peaked ~500 KiB above the memory it left live;
//! moving the log out took 16-180 KiB off its RSS). glibc only maps 128 KiB blocks and up alone,
//! and raises that threshold after the first such block is freed. A mapping of its own goes back
//! to the OS the moment the buffer is dropped, and the heap holds only long-lived data.
//!
//! A mapping costs a system call to create and to drop, and its pages fault in on first write,
//! so this is only for buffers of tens of KiB that live for many operations (the log keeps a
//! few spare segments during a burst so that writes do not map one per segment).
//!
//! [`PageU32s`] does the same for an array of `u32`: a segment's record index, a 4-8 KiB block
//! that lives and dies with its segment. Left in malloc's heap it was the last churn there: the
//! same load left ~44 freed index blocks (180 KiB) between the sets' allocations.

use std::ops::{Deref, DerefMut};

use memmap2::MmapMut;

/// A byte buffer of `len` bytes in a private anonymous mapping of `capacity` bytes.
#[derive(Default)]
pub struct PageBuf {
    map: Option<MmapMut>,
    len: usize,
}

impl PageBuf {
    /// An empty buffer with room for at least `cap` bytes (no mapping when `cap` is 0).
    pub fn with_capacity(cap: usize) -> PageBuf {
        PageBuf {
            map: (cap > 0).then(|| map(cap)),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.map.as_ref().map_or(0, |m| m.len())
    }

    /// Empties the buffer and keeps its mapping.
    pub fn clear(&mut self) {
        self.len = 0;
    }

    pub fn extend_from_slice(&mut self, b: &[u8]) {
        let need = self.len + b.len();
        if need > self.capacity() {
            // Doubling, as Vec: a record bigger than the segment grows it once or twice.
            let mut grown = map(need.max(self.capacity() * 2));
            grown[..self.len].copy_from_slice(&self[..]);
            if let Some(old) = self.map.replace(grown) {
                unmapped(old);
            }
        }
        if let Some(m) = self.map.as_mut() {
            m[self.len..need].copy_from_slice(b);
        }
        self.len = need;
    }
}

/// A growable array of `u32` in a mapping of its own (see the module docs).
#[derive(Default)]
pub struct PageU32s {
    buf: PageBuf,
}

impl PageU32s {
    /// An empty array with room for at least `n` values.
    pub fn with_capacity(n: usize) -> PageU32s {
        PageU32s {
            buf: PageBuf::with_capacity(n * 4),
        }
    }

    pub fn push(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_ne_bytes());
    }

    /// Empties the array and keeps its mapping.
    pub fn clear(&mut self) {
        self.buf.clear();
    }
}

impl Deref for PageU32s {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        let b: &[u8] = &self.buf;
        if b.is_empty() {
            return &[];
        }
        // SAFETY: a non-empty buffer is a mapping, so it starts on a page boundary (aligned for
        // u32); its length is a multiple of 4 (only `push` writes it) and every 4 bytes were
        // written from one u32, so each is a valid value. The borrow of `self` keeps the
        // mapping alive and unchanged for the slice's lifetime.
        unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<u32>(), b.len() / 4) }
    }
}

/// Maps `len` bytes, or fails as a failed heap allocation does. The bytes count as allocated
/// (`used_memory`) until [`unmapped`].
fn map(len: usize) -> MmapMut {
    match MmapMut::map_anon(len) {
        Ok(m) => {
            crate::util::alloc::count_mapped(m.len() as i64);
            m
        }
        Err(_) => std::alloc::handle_alloc_error(
            std::alloc::Layout::from_size_align(len, 1).unwrap_or(std::alloc::Layout::new::<u8>()),
        ),
    }
}

fn unmapped(m: MmapMut) {
    crate::util::alloc::count_mapped(-(m.len() as i64));
}

impl Drop for PageBuf {
    fn drop(&mut self) {
        if let Some(m) = self.map.take() {
            unmapped(m);
        }
    }
}

impl Deref for PageBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match &self.map {
            Some(m) => &m[..self.len],
            None => &[],
        }
    }
}

impl DerefMut for PageBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match &mut self.map {
            Some(m) => &mut m[..self.len],
            None => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{PageBuf, PageU32s};

    #[test]
    fn u32s_grow_past_their_mapping_and_read_back() {
        let mut v = PageU32s::with_capacity(4);
        assert!(v.is_empty());
        for i in 0..5000u32 {
            v.push(i * 3);
        }
        assert_eq!(v.len(), 5000);
        assert!(v.iter().enumerate().all(|(i, &x)| x == i as u32 * 3));
        assert_eq!(v.partition_point(|&x| x < 3000), 1000);
        assert_eq!(v.get(4999), Some(&14_997));
        v.clear();
        assert!(v.is_empty());
        v.push(7);
        assert_eq!(&*v, &[7]);
        assert!(PageU32s::default().is_empty());
    }

    #[test]
    fn grows_past_its_mapping_and_keeps_its_bytes() {
        let mut b = PageBuf::with_capacity(10);
        assert!(b.capacity() >= 10);
        let chunk: Vec<u8> = (0..=255).collect();
        for _ in 0..100 {
            b.extend_from_slice(&chunk);
        }
        assert_eq!(b.len(), 25_600);
        assert!(b.chunks(256).all(|c| c == &chunk[..]));
        b[0] = 9;
        assert_eq!(b[0], 9);
        let cap = b.capacity();
        b.clear();
        assert!(b.is_empty());
        assert_eq!(b.capacity(), cap);
        assert_eq!(&*PageBuf::default(), &[] as &[u8]);
        let mut e = PageBuf::with_capacity(0);
        e.extend_from_slice(b"abc");
        assert_eq!(&*e, b"abc");
    }
}

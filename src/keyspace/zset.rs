//! The sorted set type (skeleton: the sorted-sets family replaces the representation).

use super::value::{Collection, Str};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    pub members: Vec<(f64, Str)>,
}

impl Collection for ZSet {
    fn len(&self) -> usize {
        self.members.len()
    }
    fn encoding(&self) -> &'static str {
        "listpack"
    }
    fn heap_size(&self) -> usize {
        self.members.len() * (8 + std::mem::size_of::<Str>())
    }
    fn rdb_encode(&self, _out: &mut Vec<u8>) {}
}

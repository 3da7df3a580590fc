//! The hash type (skeleton: the hashes family replaces the representation).

use super::value::{Collection, Str};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Hash {
    pub fields: Vec<(Str, Str)>,
}

impl Collection for Hash {
    fn len(&self) -> usize {
        self.fields.len()
    }
    fn encoding(&self) -> &'static str {
        "listpack"
    }
    fn heap_size(&self) -> usize {
        self.fields.len() * 2 * std::mem::size_of::<Str>()
    }
    fn rdb_encode(&self, _out: &mut Vec<u8>) {}
}

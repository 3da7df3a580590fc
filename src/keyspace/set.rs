//! The set type (skeleton: the sets family replaces the representation).

use super::value::{Collection, Str};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Set {
    pub members: Vec<Str>,
}

impl Collection for Set {
    fn len(&self) -> usize {
        self.members.len()
    }
    fn encoding(&self) -> &'static str {
        "listpack"
    }
    fn heap_size(&self) -> usize {
        self.members.len() * std::mem::size_of::<Str>()
    }
    fn rdb_encode(&self, _out: &mut Vec<u8>) {}
}

//! The list type (skeleton: the lists family replaces the representation).

use std::collections::VecDeque;

use super::value::{Collection, Str};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct List {
    pub items: VecDeque<Str>,
}

impl Collection for List {
    fn len(&self) -> usize {
        self.items.len()
    }
    fn encoding(&self) -> &'static str {
        "quicklist"
    }
    fn heap_size(&self) -> usize {
        self.items.len() * std::mem::size_of::<Str>()
    }
    fn rdb_encode(&self, _out: &mut Vec<u8>) {}
}

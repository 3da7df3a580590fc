//! Reader-side filters and image options for the change feed, shared by `CHANGES READ`,
//! `CHANGES SUBSCRIBE`, consumer groups and `CHANGES SNAPSHOT`.
//!
//! A [`Filter`] combines up to four conditions, all of which must hold:
//! * `MATCH <glob>` — the event's key matches the glob (Redis `KEYS` rules, case-sensitive);
//! * `EVENTS e1,e2,...` — the event verb is one of the listed ones (case-insensitive);
//! * `TYPE t1,t2,...` — the value type *after* the change is one of the listed ones (`none`
//!   matches removals, since a deleted key has no type);
//! * `DB <n>` — the event happened in database `n`.
//!
//! Companion records (an event with empty `args`, such as `rename_to`) are events like any
//! other and are matched by their own key. Keyspace-wide events (empty key: `flushdb`,
//! `flushall`, `swapdb`) affect every key, so they pass `MATCH` and `TYPE`; for `DB`, `flushall`
//! passes every database and `swapdb` passes both databases it swaps. `EVENTS` applies to them as
//! to any other event, so a reader may exclude them deliberately.

use super::log::EventRef;
use crate::commands::args::{is, Cursor};
use crate::error::{self, CmdError, CmdResult};
use crate::keyspace::value::ValueType;
use crate::util::glob::glob_match;

/// Most event names or types one filter lists.
const MAX_LIST: usize = 64;
/// Longest glob accepted.
const MAX_PATTERN: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub pattern: Option<Vec<u8>>,
    /// Lower-case verbs; empty = every event.
    pub events: Vec<String>,
    /// Empty = every type.
    pub types: Vec<ValueType>,
    pub db: Option<u32>,
}

impl Filter {
    /// True when the filter lets every event through.
    pub fn is_empty(&self) -> bool {
        self.pattern.is_none()
            && self.events.is_empty()
            && self.types.is_empty()
            && self.db.is_none()
    }

    /// Parses one filter option at the cursor, if `opt` names one (`MATCH`, `EVENTS`, `TYPE`,
    /// `DB`). Returns false (consuming nothing further) for any other word.
    pub fn parse_option(&mut self, opt: &[u8], c: &mut Cursor, ndbs: usize) -> CmdResult<bool> {
        if is(opt, "MATCH") {
            let p = c.value()?;
            if p.len() > MAX_PATTERN {
                return Err(error::SYNTAX.into());
            }
            self.pattern = Some(p.to_vec());
        } else if is(opt, "EVENTS") {
            self.events = split_list(c.value()?)
                .map(|e| String::from_utf8_lossy(e).to_ascii_lowercase())
                .collect();
            if self.events.is_empty() || self.events.len() > MAX_LIST {
                return Err(error::CHANGES_BAD_EVENTS.into());
            }
        } else if is(opt, "TYPE") {
            let mut types = Vec::new();
            for t in split_list(c.value()?) {
                let vt = if is(t, "none") {
                    ValueType::None
                } else {
                    ValueType::parse(t).ok_or(CmdError::from(error::CHANGES_BAD_TYPE))?
                };
                types.push(vt);
            }
            if types.is_empty() || types.len() > MAX_LIST {
                return Err(error::CHANGES_BAD_TYPE.into());
            }
            self.types = types;
        } else if is(opt, "DB") {
            let n = c.i64()?;
            if n < 0 || n as usize >= ndbs {
                return Err(error::DB_INDEX.into());
            }
            self.db = Some(n as u32);
        } else {
            return Ok(false);
        }
        Ok(true)
    }

    /// Does `ev` pass the filter? See the module docs for keyspace-wide events.
    pub fn matches(&self, ev: &EventRef<'_>) -> bool {
        if !self.events.is_empty() && !self.events.iter().any(|e| e == ev.event) {
            return false;
        }
        let wide = ev.key.is_empty();
        if let Some(db) = self.db {
            let hit = ev.db == db
                || (wide && ev.event == "flushall")
                || (wide
                    && ev.event == "swapdb"
                    && ev.args.iter().skip(1).any(|a| parse_u32(a) == Some(db)));
            if !hit {
                return false;
            }
        }
        if wide {
            return true;
        }
        if !self.types.is_empty() && !self.types.contains(&ev.vtype) {
            return false;
        }
        match &self.pattern {
            Some(p) => glob_match(p, ev.key, false),
            None => true,
        }
    }

    /// Does a key of type `vt` in `db` pass the key-related conditions (for snapshots, where
    /// there is no event verb)?
    pub fn matches_key(&self, db: u32, key: &[u8], vt: ValueType) -> bool {
        if self.db.is_some_and(|d| d != db) {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(&vt) {
            return false;
        }
        match &self.pattern {
            Some(p) => glob_match(p, key, false),
            None => true,
        }
    }

    /// The filter as the arguments that would create it (for `CHANGES GROUP LIST`).
    pub fn describe(&self) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        if let Some(p) = &self.pattern {
            v.push(b"MATCH".to_vec());
            v.push(p.clone());
        }
        if !self.events.is_empty() {
            v.push(b"EVENTS".to_vec());
            v.push(self.events.join(",").into_bytes());
        }
        if !self.types.is_empty() {
            v.push(b"TYPE".to_vec());
            let names: Vec<&str> = self.types.iter().map(|t| t.name()).collect();
            v.push(names.join(",").into_bytes());
        }
        if let Some(db) = self.db {
            v.push(b"DB".to_vec());
            v.push(db.to_string().into_bytes());
        }
        v
    }
}

fn split_list(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    s.split(|&b| b == b',').filter(|p| !p.is_empty())
}

fn parse_u32(a: &[u8]) -> Option<u32> {
    std::str::from_utf8(a).ok()?.parse().ok()
}

/// Which value images a reader asked for (DynamoDB's stream view types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Images {
    #[default]
    Keys,
    New,
    Old,
    Both,
}

/// Largest `SET` argument used as a new image when the log recorded no image itself.
pub const IMAGE_MAX: usize = 1 << 20;

impl Images {
    pub fn parse(a: &[u8]) -> CmdResult<Images> {
        Ok(if is(a, "keys") {
            Images::Keys
        } else if is(a, "new") {
            Images::New
        } else if is(a, "old") {
            Images::Old
        } else if is(a, "both") {
            Images::Both
        } else {
            return Err(error::CHANGES_BAD_IMAGES.into());
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Images::Keys => "keys",
            Images::New => "new",
            Images::Old => "old",
            Images::Both => "both",
        }
    }

    /// The old value of `ev`'s key if the reader wants it and the log recorded it.
    pub fn old_image<'a>(self, ev: &EventRef<'a>) -> Option<Image<'a>> {
        if !matches!(self, Images::Old | Images::Both) {
            return None;
        }
        ev.old.map(Image::Encoded)
    }

    /// The new value of `ev`'s key if the reader wants it: the recorded image, or, for a
    /// string whose effect is `SET key value ...`, the value argument.
    pub fn new_image<'a>(self, ev: &EventRef<'a>) -> Option<Image<'a>> {
        if !matches!(self, Images::New | Images::Both) {
            return None;
        }
        if let Some(n) = ev.new {
            return Some(Image::Encoded(n));
        }
        if ev.vtype != ValueType::String {
            return None;
        }
        let mut a = ev.args.iter();
        match (a.next(), a.next(), a.next()) {
            (Some(cmd), Some(_key), Some(value)) if is(cmd, "SET") && value.len() <= IMAGE_MAX => {
                Some(Image::Raw(value))
            }
            _ => None,
        }
    }
}

/// A value image: a raw string, or a value in the RDB value encoding (as the log records it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Image<'a> {
    Raw(&'a [u8]),
    Encoded(&'a [u8]),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::ChangeEvent;
    use crate::changes::{ChangeKind, Origin};

    fn ev(db: u32, key: &str, event: &str, vt: ValueType, args: &[&str]) -> ChangeEvent {
        ChangeEvent {
            offset: 1,
            ts: 0,
            tx_id: 0,
            tx_n: 0,
            client_id: 0,
            origin: Origin::Client,
            change: ChangeKind::Modify,
            vtype: vt,
            db,
            event: event.into(),
            key: key.as_bytes().to_vec(),
            args: args.iter().map(|a| a.as_bytes().to_vec()).collect(),
            old: None,
            new: None,
        }
    }

    fn m(f: &Filter, e: ChangeEvent) -> bool {
        f.matches(&e.as_ref())
    }

    #[test]
    fn all_conditions_must_hold() {
        let f = Filter {
            pattern: Some(b"user:*".to_vec()),
            events: vec!["set".into(), "del".into()],
            types: vec![ValueType::String, ValueType::None],
            db: Some(0),
        };
        assert!(m(&f, ev(0, "user:1", "set", ValueType::String, &["SET"])));
        assert!(m(&f, ev(0, "user:1", "del", ValueType::None, &["DEL"])));
        assert!(!m(&f, ev(1, "user:1", "set", ValueType::String, &["SET"])));
        assert!(!m(&f, ev(0, "order:1", "set", ValueType::String, &["SET"])));
        assert!(!m(&f, ev(0, "user:1", "hset", ValueType::Hash, &["HSET"])));
        assert!(!m(
            &f,
            ev(0, "user:1", "expire", ValueType::String, &["PEXPIREAT"])
        ));
    }

    #[test]
    fn keyspace_wide_events_pass_match_and_the_databases_they_touch() {
        let f = Filter {
            pattern: Some(b"user:*".to_vec()),
            db: Some(3),
            ..Default::default()
        };
        assert!(m(&f, ev(0, "", "flushall", ValueType::None, &["FLUSHALL"])));
        assert!(m(&f, ev(3, "", "flushdb", ValueType::None, &["FLUSHDB"])));
        assert!(!m(&f, ev(2, "", "flushdb", ValueType::None, &["FLUSHDB"])));
        assert!(m(
            &f,
            ev(1, "", "swapdb", ValueType::None, &["SWAPDB", "1", "3"])
        ));
        assert!(!m(
            &f,
            ev(1, "", "swapdb", ValueType::None, &["SWAPDB", "1", "2"])
        ));
    }

    #[test]
    fn companion_records_match_by_their_own_key() {
        let f = Filter {
            pattern: Some(b"dst*".to_vec()),
            ..Default::default()
        };
        assert!(m(&f, ev(0, "dst", "rename_to", ValueType::String, &[])));
        assert!(!m(
            &f,
            ev(
                0,
                "src",
                "rename_from",
                ValueType::None,
                &["RENAME", "src", "dst"]
            )
        ));
    }

    #[test]
    fn new_image_comes_from_a_set_effect_only() {
        let set = ev(
            0,
            "k",
            "set",
            ValueType::String,
            &["SET", "k", "v", "PXAT", "9"],
        );
        assert_eq!(Images::New.new_image(&set.as_ref()), Some(Image::Raw(b"v")));
        assert_eq!(
            Images::Both.new_image(&set.as_ref()),
            Some(Image::Raw(b"v"))
        );
        assert_eq!(Images::Keys.new_image(&set.as_ref()), None);
        assert_eq!(Images::Old.new_image(&set.as_ref()), None);
        let app = ev(0, "k", "append", ValueType::String, &["APPEND", "k", "v"]);
        assert_eq!(Images::New.new_image(&app.as_ref()), None);
    }
}

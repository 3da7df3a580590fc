//! A trigger's definition: target, filter and delivery policy, parsed from the arguments of
//! `TRIGGER CREATE` after the name. The same parser reads `trigger` lines of the config file and
//! the definitions saved in `triggers.json` (which are [`Spec::describe`]'s output), so a
//! definition means the same thing wherever it comes from.
//!
//! Options and defaults (docs/triggers.md is the reference):
//! `MATCH`/`EVENTS`/`TYPE`/`DB` (the change feed's filter), `IMAGES keys`, `BATCHSIZE 100`,
//! `WINDOW 0`, `RETRIES 5`, `BACKOFF 200 30000`, `MAXAGE 0` (no limit), `BISECT yes`,
//! `PARALLELISM 1`, `FORMAT cloudevents`, `DEADLETTER` none (`DEADLETTERDB` defaults to the
//! creating connection's database), `SECRET` none, `TIMEOUT 10000`, `START latest` (not part
//! of the definition: only where a new trigger begins).

use std::time::Duration;

use crate::changes::filter::{Filter, Images};
use crate::commands::args::{int, is, Cursor};
use crate::error::{self, CmdError, CmdResult};

pub const MAX_BATCH: usize = 10_000;
pub const MAX_WINDOW_MS: u64 = 300_000;
pub const MAX_RETRIES: u32 = 1000;
pub const MAX_BACKOFF_MS: u64 = 3_600_000;
pub const MAX_PARALLELISM: usize = 64;
pub const MAX_TIMEOUT_MS: u64 = 900_000;
const MAX_SECRET: usize = 1024;
const MAX_URL: usize = 4096;

/// How a batch is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    CloudEvents,
    DynamoDb,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::CloudEvents => "cloudevents",
            Format::DynamoDb => "dynamodb",
        }
    }
}

/// Where batches go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An `http://` or `https://` URL, POSTed to.
    Http(String),
    /// `nats://host:port/subject`: a request whose reply acknowledges the batch.
    Nats { server: String, subject: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The target as given.
    pub url: String,
    pub target: Target,
    pub filter: Filter,
    pub images: Images,
    pub batch_size: usize,
    pub window_ms: u64,
    pub retries: u32,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// 0: no limit.
    pub max_age_ms: u64,
    pub bisect: bool,
    pub parallelism: usize,
    pub format: Format,
    /// (db, key) of the dead-letter stream.
    pub dead_letter: Option<(u32, Vec<u8>)>,
    pub secret: Option<Vec<u8>>,
    pub timeout_ms: u64,
}

impl Spec {
    /// Parses `target [options]` at the cursor. `db` is the database a DEADLETTER key lives in
    /// unless DEADLETTERDB says otherwise. Returns the spec and the START argument, if any.
    pub fn parse<'a>(
        c: &mut Cursor<'a>,
        ndbs: usize,
        db: u32,
    ) -> CmdResult<(Spec, Option<&'a [u8]>)> {
        let url = c.value()?;
        let url = std::str::from_utf8(url).map_err(|_| CmdError::from(error::TRIGGER_TARGET))?;
        let target = parse_target(url)?;
        let mut s = Spec {
            url: url.to_string(),
            target,
            filter: Filter::default(),
            images: Images::Keys,
            batch_size: 100,
            window_ms: 0,
            retries: 5,
            backoff_base_ms: 200,
            backoff_max_ms: 30_000,
            max_age_ms: 0,
            bisect: true,
            parallelism: 1,
            format: Format::CloudEvents,
            dead_letter: None,
            secret: None,
            timeout_ms: 10_000,
        };
        let mut start = None;
        let mut dl_db = db;
        let ranged = |a: &[u8], lo: i64, hi: i64, e: &'static str| -> CmdResult<i64> {
            match int(a) {
                Ok(n) if (lo..=hi).contains(&n) => Ok(n),
                _ => Err(e.into()),
            }
        };
        while let Some(opt) = c.next_arg() {
            if is(opt, "IMAGES") {
                s.images = Images::parse(c.value()?)?;
            } else if is(opt, "BATCHSIZE") {
                s.batch_size =
                    ranged(c.value()?, 1, MAX_BATCH as i64, error::TRIGGER_BATCHSIZE)? as usize;
            } else if is(opt, "WINDOW") {
                s.window_ms =
                    ranged(c.value()?, 0, MAX_WINDOW_MS as i64, error::TRIGGER_WINDOW)? as u64;
            } else if is(opt, "RETRIES") {
                s.retries =
                    ranged(c.value()?, 0, MAX_RETRIES as i64, error::TRIGGER_RETRIES)? as u32;
            } else if is(opt, "BACKOFF") {
                let m = MAX_BACKOFF_MS as i64;
                let base = ranged(c.value()?, 1, m, error::TRIGGER_BACKOFF)? as u64;
                let max = ranged(c.value()?, 1, m, error::TRIGGER_BACKOFF)? as u64;
                if max < base {
                    return Err(error::TRIGGER_BACKOFF.into());
                }
                (s.backoff_base_ms, s.backoff_max_ms) = (base, max);
            } else if is(opt, "MAXAGE") {
                s.max_age_ms = ranged(c.value()?, 0, i64::MAX, error::TRIGGER_MAXAGE)? as u64;
            } else if is(opt, "BISECT") {
                let v = c.value()?;
                s.bisect = if is(v, "yes") {
                    true
                } else if is(v, "no") {
                    false
                } else {
                    return Err(error::TRIGGER_BISECT.into());
                };
            } else if is(opt, "PARALLELISM") {
                s.parallelism = ranged(
                    c.value()?,
                    1,
                    MAX_PARALLELISM as i64,
                    error::TRIGGER_PARALLELISM,
                )? as usize;
            } else if is(opt, "FORMAT") {
                let v = c.value()?;
                s.format = if is(v, "cloudevents") {
                    Format::CloudEvents
                } else if is(v, "dynamodb") {
                    Format::DynamoDb
                } else {
                    return Err(error::TRIGGER_FORMAT.into());
                };
            } else if is(opt, "DEADLETTER") {
                s.dead_letter = Some((0, c.value()?.to_vec()));
            } else if is(opt, "DEADLETTERDB") {
                let n = int(c.value()?)?;
                if n < 0 || n as usize >= ndbs {
                    return Err(error::DB_INDEX.into());
                }
                dl_db = n as u32;
            } else if is(opt, "SECRET") {
                let v = c.value()?;
                if v.is_empty() || v.len() > MAX_SECRET {
                    return Err(error::TRIGGER_SECRET.into());
                }
                s.secret = Some(v.to_vec());
            } else if is(opt, "TIMEOUT") {
                s.timeout_ms =
                    ranged(c.value()?, 1, MAX_TIMEOUT_MS as i64, error::TRIGGER_TIMEOUT)? as u64;
            } else if is(opt, "START") {
                start = Some(c.value()?);
            } else if !s.filter.parse_option(opt, c, ndbs)? {
                return Err(error::SYNTAX.into());
            }
        }
        if let Some(d) = s.dead_letter.as_mut() {
            d.0 = dl_db;
        }
        Ok((s, start))
    }

    /// The arguments that recreate this spec (after the name); the secret is shown as `***`
    /// unless `secret` is set (the definitions file keeps it).
    pub fn describe(&self, secret: bool) -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = vec![self.url.clone().into_bytes()];
        v.extend(self.filter.describe());
        let mut opt = |k: &str, val: String| {
            v.push(k.as_bytes().to_vec());
            v.push(val.into_bytes());
        };
        opt("IMAGES", self.images.name().into());
        opt("BATCHSIZE", self.batch_size.to_string());
        opt("WINDOW", self.window_ms.to_string());
        opt("RETRIES", self.retries.to_string());
        opt("MAXAGE", self.max_age_ms.to_string());
        opt("BISECT", if self.bisect { "yes" } else { "no" }.into());
        opt("PARALLELISM", self.parallelism.to_string());
        opt("FORMAT", self.format.name().into());
        opt("TIMEOUT", self.timeout_ms.to_string());
        if let Some((db, _)) = &self.dead_letter {
            opt("DEADLETTERDB", db.to_string());
        }
        v.push(b"BACKOFF".to_vec());
        v.push(self.backoff_base_ms.to_string().into_bytes());
        v.push(self.backoff_max_ms.to_string().into_bytes());
        if let Some((_, k)) = &self.dead_letter {
            v.push(b"DEADLETTER".to_vec());
            v.push(k.clone());
        }
        if let Some(s) = &self.secret {
            v.push(b"SECRET".to_vec());
            v.push(if secret { s.clone() } else { b"***".to_vec() });
        }
        v
    }

    /// The pause before retry number `n` (1-based): exponential from the base, capped at the
    /// maximum, with "equal jitter" (half fixed, half random) so retries of many partitions
    /// against one recovering function spread out.
    pub fn backoff(&self, n: u32) -> Duration {
        use rand::Rng;
        let exp = self
            .backoff_base_ms
            .saturating_mul(1u64 << n.saturating_sub(1).min(40))
            .min(self.backoff_max_ms);
        let half = exp / 2;
        let jitter = rand::rng().random_range(0..=exp - half);
        Duration::from_millis(half + jitter)
    }
}

fn parse_target(url: &str) -> CmdResult<Target> {
    if url.len() > MAX_URL {
        return Err(error::TRIGGER_TARGET.into());
    }
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        let u = reqwest::Url::parse(url).map_err(|_| CmdError::from(error::TRIGGER_TARGET))?;
        if u.host_str().is_none_or(str::is_empty) {
            return Err(error::TRIGGER_TARGET.into());
        }
        return Ok(Target::Http(url.to_string()));
    }
    if let Some(rest) = lower.strip_prefix("nats://") {
        let rest = &url[url.len() - rest.len()..];
        let (server, subject) = rest
            .split_once('/')
            .ok_or(CmdError::from(error::TRIGGER_TARGET))?;
        let subject_ok = !subject.is_empty()
            && !subject
                .bytes()
                .any(|b| b.is_ascii_whitespace() || b == b'*' || b == b'>');
        if server.is_empty() || !subject_ok {
            return Err(error::TRIGGER_TARGET.into());
        }
        return Ok(Target::Nats {
            server: server.to_string(),
            subject: subject.to_string(),
        });
    }
    Err(error::TRIGGER_TARGET.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::resp::Args;

    fn parse(line: &str) -> CmdResult<Spec> {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut base = Vec::new();
        let mut ranges = Vec::new();
        for w in &words {
            let s = base.len();
            base.extend_from_slice(w.as_bytes());
            ranges.push((s, base.len()));
        }
        let a = Args::new(&base, &ranges);
        Spec::parse(&mut Cursor::new(a, 0), 16, 3).map(|r| r.0)
    }

    #[test]
    fn defaults_are_bounded_and_options_parse() {
        let s = parse("http://h/x").unwrap();
        assert_eq!((s.batch_size, s.retries, s.bisect), (100, 5, true));
        assert!(s.dead_letter.is_none());
        let s = parse(
            "https://h:8080/f MATCH user:* BATCHSIZE 7 RETRIES 2 BACKOFF 10 20 \
             FORMAT dynamodb DEADLETTER dlq SECRET s3 PARALLELISM 4 IMAGES both",
        )
        .unwrap();
        assert_eq!(s.batch_size, 7);
        assert_eq!(s.format, Format::DynamoDb);
        assert_eq!(s.dead_letter, Some((3, b"dlq".to_vec())));
        assert_eq!(s.filter.pattern.as_deref(), Some(&b"user:*"[..]));
        // The description parses back to the same spec.
        let again = s.describe(true);
        let line: Vec<String> = again
            .iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        assert_eq!(parse(&line.join(" ")).unwrap(), s);
        assert!(!s
            .describe(false)
            .iter()
            .any(|a| a.as_slice() == b"s3".as_slice()));
    }

    #[test]
    fn bad_values_get_clear_errors() {
        assert_eq!(
            parse("ftp://h/x").unwrap_err().as_str(),
            error::TRIGGER_TARGET
        );
        assert_eq!(
            parse("http://h BATCHSIZE 0").unwrap_err().as_str(),
            error::TRIGGER_BATCHSIZE
        );
        assert_eq!(
            parse("http://h BACKOFF 10 5").unwrap_err().as_str(),
            error::TRIGGER_BACKOFF
        );
        assert_eq!(
            parse("http://h BOGUS 1").unwrap_err().as_str(),
            error::SYNTAX
        );
        assert!(parse("nats://127.0.0.1:4222/fn.orders").is_ok());
        assert!(parse("nats://127.0.0.1:4222/").is_err());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let mut s = parse("http://h BACKOFF 100 1000").unwrap();
        s.backoff_base_ms = 100;
        for n in 1..60 {
            let d = s.backoff(n).as_millis() as u64;
            let exp = (100u64 << (n - 1).min(40)).min(1000);
            assert!(d >= exp / 2 && d <= exp, "{n}: {d}");
        }
    }
}

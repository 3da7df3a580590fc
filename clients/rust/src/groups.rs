//! Change-feed consumer groups (docs/changes.md, "Consumer groups"): at-least-once delivery of
//! the events matching a filter, each to one consumer, with acknowledgements, the pending list,
//! claims of entries a dead consumer left behind, and dead letters.
//!
//! A blocking [`Group::read`] holds back the other requests of its connection until it replies:
//! give each blocking worker its own [`Client`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::changes::{Change, Filter, Start};
use crate::client::{cmd, Client};
use crate::{Result, Value};

/// Options of `CHANGES GROUP CREATE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupOptions {
    /// Which events the group receives.
    pub filter: Filter,
    /// Deliveries after which a claimed entry becomes a dead letter (`None`: unlimited).
    pub max_deliveries: Option<u32>,
    /// The list that receives dead letters (as JSON).
    pub dead_letter: Option<String>,
}

/// One entry of the pending list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingEntry {
    /// The event's offset.
    pub offset: u64,
    /// The consumer it was last delivered to.
    pub consumer: String,
    /// Milliseconds since that delivery.
    pub idle_ms: u64,
    /// How many times it has been delivered.
    pub deliveries: u64,
}

/// A consumer group, by name, on a client's connection.
///
/// ```no_run
/// # async fn demo() -> eddy_client::Result<()> {
/// use std::time::Duration;
/// use eddy_client::{Client, Filter, GroupOptions, Start};
///
/// let client = Client::connect("127.0.0.1:6479").await?;
/// let billing = client.group("billing");
/// billing
///     .create(Start::Earliest, &GroupOptions {
///         filter: Filter::default().pattern("order:*"),
///         max_deliveries: Some(5),
///         dead_letter: Some("billing:dlq".into()),
///     })
///     .await?;
/// let batch = billing.read("worker-1", 10, Some(Duration::from_secs(5))).await?;
/// let offsets: Vec<u64> = batch.iter().map(|c| c.offset).collect();
/// billing.ack(&offsets).await?;
/// // Entries another worker left unacknowledged for a minute:
/// let stale: Vec<u64> = billing
///     .pending(Some(Duration::from_secs(60)), None)
///     .await?
///     .iter()
///     .map(|p| p.offset)
///     .collect();
/// let taken = billing.claim("worker-1", Duration::from_secs(60), &stale).await?;
/// # let _ = taken;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Group {
    client: Client,
    name: String,
}

impl Client {
    /// The consumer group `name` (which may not exist yet: see [`Group::create`]).
    pub fn group(&self, name: impl Into<String>) -> Group {
        Group {
            client: self.clone(),
            name: name.into(),
        }
    }
}

impl Group {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `CHANGES GROUP CREATE`; fails with code `BUSYGROUP` if it exists.
    pub async fn create(&self, start: Start, opts: &GroupOptions) -> Result<()> {
        let mut c = cmd("CHANGES")
            .arg("GROUP")
            .arg("CREATE")
            .arg(&self.name)
            .arg(&start.arg());
        c = opts.filter.append(c);
        if let Some(n) = opts.max_deliveries {
            c = c.arg("MAXDELIVERIES").arg(&n);
        }
        if let Some(k) = &opts.dead_letter {
            c = c.arg("DEADLETTER").arg(k);
        }
        self.client.exec(&c).await.map(drop)
    }

    /// `CHANGES GROUP DESTROY`; true if it existed.
    pub async fn destroy(&self) -> Result<bool> {
        let c = cmd("CHANGES").arg("GROUP").arg("DESTROY").arg(&self.name);
        Ok(self.client.exec(&c).await?.as_int() == Some(1))
    }

    /// `CHANGES GROUP READ`: up to `count` new events for `consumer`, waiting up to `block` when
    /// there are none (empty on timeout).
    pub async fn read(
        &self,
        consumer: &str,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Change>> {
        let mut c = cmd("CHANGES")
            .arg("GROUP")
            .arg("READ")
            .arg(&self.name)
            .arg(consumer)
            .arg("COUNT")
            .arg(&count);
        if let Some(b) = block {
            c = c.arg("BLOCK").arg(&(b.as_millis() as u64));
        }
        let v: Option<Vec<Change>> = self.client.query(&c).await?;
        Ok(v.unwrap_or_default())
    }

    /// `CHANGES ACK`: returns how many of `offsets` were pending.
    pub async fn ack(&self, offsets: &[u64]) -> Result<u64> {
        let c = cmd("CHANGES").arg("ACK").arg(&self.name).args(offsets);
        self.client.query(&c).await
    }

    /// `CHANGES PENDING`, optionally only entries idle for `idle` and/or of one consumer.
    pub async fn pending(
        &self,
        idle: Option<Duration>,
        consumer: Option<&str>,
    ) -> Result<Vec<PendingEntry>> {
        let mut c = cmd("CHANGES").arg("PENDING").arg(&self.name);
        if let Some(i) = idle {
            c = c.arg("IDLE").arg(&(i.as_millis() as u64));
        }
        if let Some(name) = consumer {
            c = c.arg(name);
        }
        let rows: Vec<(u64, Value, u64, u64)> = self.client.query(&c).await?;
        Ok(rows
            .into_iter()
            .map(|(offset, consumer, idle_ms, deliveries)| PendingEntry {
                offset,
                consumer: consumer.to_string(),
                idle_ms,
                deliveries,
            })
            .collect())
    }

    /// `CHANGES CLAIM`: re-delivers to `consumer` those of `offsets` idle for at least
    /// `min_idle`, and returns their events.
    pub async fn claim(
        &self,
        consumer: &str,
        min_idle: Duration,
        offsets: &[u64],
    ) -> Result<Vec<Change>> {
        let c = cmd("CHANGES")
            .arg("CLAIM")
            .arg(&self.name)
            .arg(consumer)
            .arg(&(min_idle.as_millis() as u64))
            .args(offsets);
        self.client.query(&c).await
    }
}

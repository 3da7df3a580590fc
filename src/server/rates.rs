//! INFO's instantaneous rates (`instantaneous_ops_per_sec`, `instantaneous_*_kbps`), computed as
//! Redis computes them: every 100 ms (the server's 100 ms tick, `keyspace::expiry::run`) each
//! counter's rate since the previous sample is recorded, and the figure is the mean of the last
//! 16 samples, so it follows the load of the last ~1.6 s. Monitoring (redis_exporter, Redis
//! Insight, dashboards) reads these rather than differentiating the totals itself.

use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::Server;

const SAMPLES: usize = 16;

/// The counters sampled, in this order.
#[derive(Clone, Copy)]
pub enum Metric {
    Commands,
    NetInput,
    NetOutput,
    ReplInput,
    ReplOutput,
}

const METRICS: usize = 5;

#[derive(Default, Clone, Copy)]
struct Track {
    last_ms: u64,
    last_value: u64,
    samples: [u64; SAMPLES],
    idx: usize,
}

#[derive(Default)]
pub struct Rates {
    tracks: Mutex<[Track; METRICS]>,
}

impl Rates {
    /// Records one sample of each counter (called every 100 ms).
    pub fn sample(&self, srv: &Server) {
        let st = &srv.stats;
        let now = crate::util::now_ms();
        let values = [
            &st.commands_processed,
            &st.net_input_bytes,
            &st.net_output_bytes,
            &st.net_repl_input_bytes,
            &st.net_repl_output_bytes,
        ]
        .map(|c| c.load(Ordering::Relaxed));
        let mut tracks = self.tracks.lock();
        for (t, v) in tracks.iter_mut().zip(values) {
            let dt = now.saturating_sub(t.last_ms);
            // The first sample has no interval to measure over (and a counter reset, CONFIG
            // RESETSTAT, no meaningful difference).
            let rate = match (t.last_ms, v.checked_sub(t.last_value)) {
                (last, Some(d)) if last != 0 && dt > 0 => d * 1000 / dt,
                _ => 0,
            };
            t.samples[t.idx] = rate;
            t.idx = (t.idx + 1) % SAMPLES;
            t.last_ms = now;
            t.last_value = v;
        }
    }

    /// The mean of the last samples of `m`, per second.
    pub fn get(&self, m: Metric) -> u64 {
        self.tracks.lock()[m as usize].samples.iter().sum::<u64>() / SAMPLES as u64
    }

    /// `m` in KiB per second, as INFO prints it.
    pub fn kbps(&self, m: Metric) -> String {
        format!("{:.2}", self.get(m) as f64 / 1024.0)
    }
}

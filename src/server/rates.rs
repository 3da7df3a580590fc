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
    last_value: u64,
    samples: [u64; SAMPLES],
}

/// The counters' tracks, and when and where the last sample went (shared: they are sampled
/// together).
#[derive(Default)]
struct State {
    last_ms: u64,
    idx: usize,
    tracks: [Track; METRICS],
}

#[derive(Default)]
pub struct Rates {
    state: Mutex<State>,
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
        let mut st = self.state.lock();
        let (last, idx) = (st.last_ms, st.idx);
        let dt = now.saturating_sub(last);
        for (t, v) in st.tracks.iter_mut().zip(values) {
            // The first sample has no interval to measure over (and a counter reset, CONFIG
            // RESETSTAT, no meaningful difference).
            t.samples[idx] = match v.checked_sub(t.last_value) {
                Some(d) if last != 0 && dt > 0 => d * 1000 / dt,
                _ => 0,
            };
            t.last_value = v;
        }
        st.last_ms = now;
        st.idx = (idx + 1) % SAMPLES;
    }

    /// The mean of the last samples of `m`, per second.
    pub fn get(&self, m: Metric) -> u64 {
        self.state.lock().tracks[m as usize]
            .samples
            .iter()
            .sum::<u64>()
            / SAMPLES as u64
    }

    /// `m` in KiB per second, as INFO prints it.
    pub fn kbps(&self, m: Metric) -> String {
        format!("{:.2}", self.get(m) as f64 / 1024.0)
    }
}

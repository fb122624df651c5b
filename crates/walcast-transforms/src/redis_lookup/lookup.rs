//! What a RedisLookup finds at one key and the in-process cache of found values. In: the
//! values read from Redis (by `redis.type`). Out: [`Lookup`]s, and cached [`Fields`] for
//! `cache.ttl.ms`, at most `cache.max.entries` keys (oldest first out).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The hasher of RedisLookup's maps: keys are short and looked up once or twice per record.
pub(crate) use foldhash::fast::RandomState;

/// A Redis key: up to 24 bytes held inline (`customer:CUST00042`), so comparing it in a map
/// reads the map's own memory instead of a separate allocation per key.
pub(crate) type Key = compact_str::CompactString;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LookupType {
    Hash,
    Json,
    String,
}

impl LookupType {
    pub(crate) fn command(self) -> &'static str {
        match self {
            LookupType::Hash => "HGETALL",
            LookupType::Json | LookupType::String => "GET",
        }
    }
}

/// A looked-up value of one added field.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Added {
    Text(String),
    Json(serde_json::Value),
}

/// Looked-up field names (without prefix) and values, in the order they are added.
pub(crate) type Fields = Arc<Vec<(String, Added)>>;

/// What Redis holds at one key, as the record will see it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lookup {
    /// Field name (without prefix) and value, in the order they are added.
    Found(Fields),
    Missing,
    /// The key holds something the lookup type cannot read; the reason, without the value.
    Unusable(String),
}

/// The in-process cache of found values: a map plus insertion order, so the oldest entry
/// leaves first when full and expired entries are dropped from the front.
pub(crate) struct Cache {
    ttl: Duration,
    max: usize,
    map: HashMap<Key, (Instant, Fields), RandomState>,
    order: VecDeque<(Key, Instant)>,
}

impl Cache {
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max,
            map: HashMap::default(),
            order: VecDeque::new(),
        }
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max > 0
    }

    pub(crate) fn get(&mut self, key: &str, now: Instant) -> Option<Fields> {
        let (at, v) = self.map.get(key)?;
        if now.duration_since(*at) < self.ttl {
            Some(Arc::clone(v))
        } else {
            self.map.remove(key);
            None
        }
    }

    pub(crate) fn put(&mut self, key: Key, value: Fields, now: Instant) {
        if !self.enabled() {
            return;
        }
        self.map.insert(key.clone(), (now, value));
        self.order.push_back((key, now));
        // Expired entries and, when over the limits, the oldest ones leave. An order entry
        // whose key was stored again later is stale and only dropped.
        while let Some((k, at)) = self.order.front() {
            let expired = now.duration_since(*at) >= self.ttl;
            let over = self.map.len() > self.max || self.order.len() > self.max.saturating_mul(2);
            if !expired && !over {
                break;
            }
            if self.map.get(k).is_some_and(|(t, _)| t == at) {
                self.map.remove(k);
            }
            self.order.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_expires_and_evicts_oldest() {
        let now = Instant::now();
        let v = Arc::new(Vec::new());
        let mut c = Cache::new(Duration::from_secs(10), 2);
        c.put("a".into(), Arc::clone(&v), now);
        c.put("b".into(), Arc::clone(&v), now);
        c.put("c".into(), Arc::clone(&v), now);
        assert!(c.get("a", now).is_none(), "the oldest left");
        assert!(c.get("b", now).is_some() && c.get("c", now).is_some());
        assert!(
            c.get("b", now + Duration::from_secs(11)).is_none(),
            "expired"
        );
        let mut off = Cache::new(Duration::ZERO, 5);
        off.put("a".into(), v, now);
        assert!(off.get("a", now).is_none());
    }
}

//! Limits on failed authentication, by client address and by key: token buckets that only
//! failures drain, so a legitimate client is never slowed and a guesser soon is.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

const MAX_TRACKED: usize = 100_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

#[derive(Debug)]
struct Buckets<K> {
    per_minute: f64,
    map: Mutex<HashMap<K, Bucket>>,
}

impl<K: Eq + Hash + Clone> Buckets<K> {
    fn new(per_minute: u32) -> Self {
        Buckets {
            per_minute: f64::from(per_minute.max(1)),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> Bucket {
        let gained = now.duration_since(bucket.updated).as_secs_f64() * self.per_minute / 60.0;
        Bucket {
            tokens: (bucket.tokens + gained).min(self.per_minute),
            updated: now,
        }
    }

    /// Seconds until one attempt is allowed, if none is now.
    fn wait(&self, key: &K, now: Instant) -> Option<u64> {
        let map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let bucket = self.refilled(*map.get(key)?, now);
        (bucket.tokens < 1.0).then(|| {
            ((1.0 - bucket.tokens) * 60.0 / self.per_minute)
                .ceil()
                .max(1.0) as u64
        })
    }

    fn drain(&self, key: K, now: Instant) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if map.len() >= MAX_TRACKED {
            let per_minute = self.per_minute;
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_minute / 60.0
                    < per_minute
            });
        }
        let fresh = Bucket {
            tokens: self.per_minute,
            updated: now,
        };
        let bucket = self.refilled(map.get(&key).copied().unwrap_or(fresh), now);
        map.insert(
            key,
            Bucket {
                tokens: bucket.tokens - 1.0,
                updated: now,
            },
        );
    }
}

/// Failed-authentication limits.
#[derive(Debug)]
pub struct FailureLimiter {
    by_address: Buckets<IpAddr>,
    by_key: Buckets<[u8; 32]>,
}

impl FailureLimiter {
    /// Allows `per_address` failures a minute from one address and `per_key` against one key.
    pub fn new(per_address: u32, per_key: u32) -> FailureLimiter {
        FailureLimiter {
            by_address: Buckets::new(per_address),
            by_key: Buckets::new(per_key),
        }
    }

    /// `Err(retry_after_seconds)` if this address or key has failed too often.
    ///
    /// # Errors
    /// The number of seconds to wait.
    pub fn check(&self, address: IpAddr, key: Option<&[u8; 32]>) -> Result<(), u64> {
        let now = Instant::now();
        let a = self.by_address.wait(&address, now);
        let k = key.and_then(|k| self.by_key.wait(k, now));
        match a.max(k) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    /// Records a failed attempt.
    pub fn failed(&self, address: IpAddr, key: Option<&[u8; 32]>) {
        let now = Instant::now();
        self.by_address.drain(address, now);
        if let Some(k) = key {
            self.by_key.drain(*k, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_drain_and_successes_do_not() {
        let limiter = FailureLimiter::new(3, 100);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..3 {
            assert!(limiter.check(ip, None).is_ok());
            limiter.failed(ip, None);
        }
        let wait = limiter.check(ip, None).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            limiter.check([10, 0, 0, 2].into(), None).is_ok(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn one_key_is_limited_across_addresses() {
        let limiter = FailureLimiter::new(100, 2);
        let key = [7u8; 32];
        limiter.failed([10, 0, 0, 1].into(), Some(&key));
        limiter.failed([10, 0, 0, 2].into(), Some(&key));
        assert!(limiter.check([10, 0, 0, 3].into(), Some(&key)).is_err());
        assert!(
            limiter
                .check([10, 0, 0, 3].into(), Some(&[8u8; 32]))
                .is_ok()
        );
    }
}

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

    /// Takes one token if there is one; else the seconds until there is.
    fn take(&self, key: K, now: Instant) -> Result<(), u64> {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_full(&mut map, now);
        let fresh = Bucket {
            tokens: self.per_minute,
            updated: now,
        };
        let bucket = self.refilled(map.get(&key).copied().unwrap_or(fresh), now);
        if bucket.tokens < 1.0 {
            map.insert(key, bucket);
            return Err(((1.0 - bucket.tokens) * 60.0 / self.per_minute)
                .ceil()
                .max(1.0) as u64);
        }
        map.insert(
            key,
            Bucket {
                tokens: bucket.tokens - 1.0,
                updated: now,
            },
        );
        Ok(())
    }

    /// At the size limit, forgets the buckets that have refilled (they hold nothing).
    fn forget_full(&self, map: &mut HashMap<K, Bucket>, now: Instant) {
        if map.len() >= MAX_TRACKED {
            let per_minute = self.per_minute;
            map.retain(|_, b| {
                b.tokens + now.duration_since(b.updated).as_secs_f64() * per_minute / 60.0
                    < per_minute
            });
        }
    }

    fn drain(&self, key: K, now: Instant) {
        let mut map = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.forget_full(&mut map, now);
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

    /// The seconds to wait if this address has failed too often. An address over its budget
    /// still gets answers for valid credentials (an office behind one NAT, one of whose
    /// machines guesses): only its failures turn into `429`.
    pub fn address_wait(&self, address: IpAddr) -> Option<u64> {
        self.by_address.wait(&address, Instant::now())
    }

    /// The seconds to wait if this presented key has failed too often, from any address.
    pub fn key_wait(&self, key: &[u8; 32]) -> Option<u64> {
        self.by_key.wait(key, Instant::now())
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

/// Request budgets of valid credentials: each licence key and each API key has its own, so
/// one busy or broken client cannot use up another's, and failures from an address never do.
#[derive(Debug)]
pub struct RequestLimiter {
    licence_keys: Buckets<[u8; 32]>,
    api_keys: Buckets<String>,
}

impl RequestLimiter {
    /// Allows `per_licence_key` requests a minute with one licence key and `per_api_key`
    /// with one API key (and as much in a burst).
    pub fn new(per_licence_key: u32, per_api_key: u32) -> RequestLimiter {
        RequestLimiter {
            licence_keys: Buckets::new(per_licence_key),
            api_keys: Buckets::new(per_api_key),
        }
    }

    /// Counts a request with the licence key whose lookup hash is `key`.
    ///
    /// # Errors
    /// The seconds to wait when the key's budget is spent.
    pub fn licence_key(&self, key: &[u8; 32]) -> Result<(), u64> {
        self.licence_keys.take(*key, Instant::now())
    }

    /// Counts a request with the API key `id`.
    ///
    /// # Errors
    /// The seconds to wait when the key's budget is spent.
    pub fn api_key(&self, id: &str) -> Result<(), u64> {
        self.api_keys.take(id.to_owned(), Instant::now())
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
            assert!(limiter.address_wait(ip).is_none());
            limiter.failed(ip, None);
        }
        let wait = limiter.address_wait(ip).unwrap();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            limiter.address_wait([10, 0, 0, 2].into()).is_none(),
            "other addresses are not affected"
        );
    }

    #[test]
    fn one_key_is_limited_across_addresses() {
        let limiter = FailureLimiter::new(100, 2);
        let key = [7u8; 32];
        limiter.failed([10, 0, 0, 1].into(), Some(&key));
        limiter.failed([10, 0, 0, 2].into(), Some(&key));
        assert!(limiter.key_wait(&key).is_some());
        assert!(limiter.key_wait(&[8u8; 32]).is_none());
    }

    #[test]
    fn each_credential_has_its_own_budget() {
        let limiter = RequestLimiter::new(3, 2);
        for _ in 0..3 {
            limiter.licence_key(&[1; 32]).unwrap();
        }
        let wait = limiter.licence_key(&[1; 32]).unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        limiter.licence_key(&[2; 32]).unwrap();
        limiter.api_key("ak_1").unwrap();
        limiter.api_key("ak_1").unwrap();
        assert!(limiter.api_key("ak_1").is_err());
        limiter.api_key("ak_2").unwrap();
    }
}

//! A successful answer, and the ETag cache that answers a repeated GET from the last one (a 304
//! costs no rate limit on GitHub).

use std::collections::{HashMap, VecDeque};

use reqwest::header::{HeaderMap, HeaderValue, ETAG};
use reqwest::StatusCode;
use serde::de::DeserializeOwned;

use super::{lock, Transport};
use crate::error::{Error, Result};

/// A successful answer (a 304 comes back with the cached body).
pub(crate) struct Answer {
    pub body: Vec<u8>,
    pub headers: HeaderMap,
}

impl Answer {
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        path: &str,
    ) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| Error::Decode {
            operation,
            path: path.to_string(),
            message: e.to_string(),
        })
    }
}

#[derive(Default)]
pub(super) struct EtagCache {
    pub(super) entries: HashMap<String, (HeaderValue, Vec<u8>)>,
    order: VecDeque<String>,
}

impl EtagCache {
    pub(super) fn put(&mut self, key: String, etag: HeaderValue, body: Vec<u8>, cap: usize) {
        if cap == 0 {
            return;
        }
        if self.entries.insert(key.clone(), (etag, body)).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > cap {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }
}

/// The cache's key for a GET: its path and query.
pub(super) fn cache_key(path: &str, query: &[(&str, String)]) -> String {
    let mut key = path.to_string();
    for (i, (k, v)) in query.iter().enumerate() {
        key.push(if i == 0 { '?' } else { '&' });
        key.push_str(k);
        key.push('=');
        key.push_str(v);
    }
    key
}

impl Transport {
    /// The answer to give for a success (its ETag kept for the next GET of the same path) or
    /// for a 304 to a cached GET; `None` for an error answer.
    pub(super) fn answer(
        &self,
        status: StatusCode,
        headers: &HeaderMap,
        bytes: &[u8],
        cached: &Option<(HeaderValue, Vec<u8>)>,
        cache_key: &Option<String>,
    ) -> Option<Answer> {
        if status == StatusCode::NOT_MODIFIED {
            if let Some((_, cached_body)) = cached {
                return Some(Answer {
                    body: cached_body.clone(),
                    headers: headers.clone(),
                });
            }
        }
        if !status.is_success() {
            return None;
        }
        if let (Some(key), Some(etag)) = (cache_key, headers.get(ETAG)) {
            let mut etags = lock(&self.etags);
            etags.put(key.clone(), etag.clone(), bytes.to_vec(), self.etag_cap);
        }
        Some(Answer {
            body: bytes.to_vec(),
            headers: headers.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etag_cache_drops_its_oldest_entry() {
        let mut c = EtagCache::default();
        for i in 0..3 {
            c.put(format!("k{i}"), HeaderValue::from_static("e"), vec![], 2);
        }
        assert!(!c.entries.contains_key("k0"));
        assert!(c.entries.contains_key("k2"));
    }
}

//! The `Idempotency-Key` header and the fingerprint of a request.

use axum::http::{HeaderMap, Method};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub const HEADER: &str = "idempotency-key";

/// A parsed key: a UUID, bare or as a Structured-Field string (`"…"`), as the IETF draft writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdempotencyKey(pub Uuid);

impl IdempotencyKey {
    /// `Ok(None)` without the header; `Err` for a present but malformed one.
    pub fn from_headers(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, &'static str> {
        let Some(raw) = headers.get(HEADER) else { return Ok(None) };
        let raw = raw.to_str().map_err(|_| "the Idempotency-Key header is not text")?;
        IdempotencyKey::parse(raw).map(Some).ok_or("the Idempotency-Key header must be a UUID")
    }

    /// The key in a header value or a pushed operation.
    pub fn parse(raw: &str) -> Option<IdempotencyKey> {
        let raw = raw.trim();
        let unquoted = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(raw);
        Uuid::parse_str(unquoted).ok().map(IdempotencyKey)
    }
}

/// JSON with object keys sorted at every level, so `{"a":1,"b":2}` and `{"b":2,"a":1}` are one request.
pub fn canonical_json(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// SHA-256 over method, path (with query), canonical body and If-Match: what makes two requests "the same".
pub fn fingerprint(method: &Method, path_and_query: &str, body: Option<&Value>, if_match: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str());
    h.update(b"\n");
    h.update(path_and_query);
    h.update(b"\n");
    if let Some(body) = body {
        h.update(canonical_json(body));
    }
    h.update(b"\n");
    h.update(if_match.unwrap_or(""));
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"b": 1, "a": {"y": [1, {"d": 1, "c": 2}], "x": null}});
        let b = json!({"a": {"x": null, "y": [1, {"c": 2, "d": 1}]}, "b": 1});
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(canonical_json(&a), r#"{"a":{"x":null,"y":[1,{"c":2,"d":1}]},"b":1}"#);
        assert_ne!(
            fingerprint(&Method::POST, "/api/x", Some(&a), None),
            fingerprint(&Method::PATCH, "/api/x", Some(&a), None)
        );
    }

    #[test]
    fn keys_parse_bare_or_quoted() {
        let id = Uuid::new_v4();
        let mut h = HeaderMap::new();
        assert_eq!(IdempotencyKey::from_headers(&h), Ok(None));
        h.insert(HEADER, format!("\"{id}\"").parse().unwrap());
        assert_eq!(IdempotencyKey::from_headers(&h), Ok(Some(IdempotencyKey(id))));
        h.insert(HEADER, id.to_string().parse().unwrap());
        assert_eq!(IdempotencyKey::from_headers(&h), Ok(Some(IdempotencyKey(id))));
        h.insert(HEADER, "not-a-uuid".parse().unwrap());
        assert!(IdempotencyKey::from_headers(&h).is_err());
    }
}

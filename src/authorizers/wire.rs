//! The JSON body of `POST /v1/balance_requests`: the one place personal data is written.
//!
//! Serialization is deterministic: the same chunk always gives the same bytes, because
//! each authorizer object was written once, with sorted keys, when it was read, and
//! the chunk order is the caller's. That determinism is what makes a retried or recovered POST safe under
//! Rightfoot's 24-hour body-hash cache.

use super::Authorizer;

/// The request body for one chunk, byte-for-byte reproducible.
pub fn request_body(chunk: &[Authorizer], webhook_url: Option<&str>) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        authorizers: Vec<&'a serde_json::value::RawValue>,
        #[serde(skip_serializing_if = "Option::is_none")]
        webhook_url: Option<&'a str>,
    }
    let body = Body {
        authorizers: chunk.iter().map(|a| &*a.personal.0).collect(),
        webhook_url,
    };
    serde_json::to_vec(&body).expect("JSON text and a string always serialize")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizers::Origin;
    use std::collections::BTreeMap;

    #[test]
    fn same_chunk_same_bytes_and_no_metadata() {
        let object = serde_json::json!({"ssn": "123456789", "authorizer_unique_id": "A-1"});
        let serde_json::Value::Object(object) = object else {
            unreachable!()
        };
        let metadata = BTreeMap::from([("payment_amount".to_string(), "125.50".to_string())]);
        let origin = Origin::Csv {
            file: "a.csv".into(),
            row: 2,
        };
        let chunk = vec![Authorizer::from_wire_object(object, metadata, origin)];
        let body = request_body(&chunk, None);
        assert_eq!(body, request_body(&chunk.clone(), None));
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"authorizers":[{"authorizer_unique_id":"A-1","ssn":"123456789"}]}"#
        );
    }
}

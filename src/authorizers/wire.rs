//! The JSON body of `POST /v1/balance_requests`: the one place personal data is written.
//!
//! Serialization is deterministic: the same chunk always gives the same bytes, because
//! each authorizer object was written once, with sorted keys, when it was read, and
//! the chunk order is the caller's. That determinism is what makes a retried or recovered POST safe under
//! Rightfoot's 24-hour body-hash cache.

use super::Authorizer;

/// The request body for one chunk, byte-for-byte reproducible.
pub fn request_body(chunk: &[Authorizer], webhook_url: Option<&str>) -> Vec<u8> {
    let size: usize = chunk.iter().map(|a| a.personal().len() + 1).sum();
    let mut body = Vec::with_capacity(size + webhook_url.map_or(0, str::len) + 40);
    write_request_body(&mut body, chunk, webhook_url).expect("writing into memory cannot fail");
    body
}

/// [`request_body`], written to `out` (a hasher, to know the body's hash without
/// keeping it). The bytes are those `serde_json` writes for
/// `{"authorizers": [objects...], "webhook_url": url}` (the URL left out when there is
/// none), each object being already compact JSON.
pub fn write_request_body(
    mut out: impl std::io::Write,
    chunk: &[Authorizer],
    webhook_url: Option<&str>,
) -> std::io::Result<()> {
    out.write_all(b"{\"authorizers\":[")?;
    for (index, authorizer) in chunk.iter().enumerate() {
        if index > 0 {
            out.write_all(b",")?;
        }
        out.write_all(authorizer.personal().as_bytes())?;
    }
    out.write_all(b"]")?;
    if let Some(url) = webhook_url {
        out.write_all(b",\"webhook_url\":")?;
        serde_json::to_writer(&mut out, url).map_err(std::io::Error::from)?;
    }
    out.write_all(b"}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizers::{Metadata, Origin};

    #[test]
    fn same_chunk_same_bytes_and_no_metadata() {
        let object = serde_json::json!({"ssn": "123456789", "authorizer_unique_id": "A-1"});
        let serde_json::Value::Object(object) = object else {
            unreachable!()
        };
        let metadata = Metadata::from_pairs([("payment_amount", "125.50")]);
        let origin = Origin::Csv {
            file: std::path::Path::new("a.csv").into(),
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

    /// The body is what `serde_json` writes for the same objects and URL, whatever
    /// the characters (the recorded hashes of chunks planned before rely on it).
    #[test]
    fn the_body_is_what_serde_json_writes() {
        let objects = [
            serde_json::json!({"authorizer_unique_id": "A-1", "ssn": "123456789"}),
            serde_json::json!({"authorizer_unique_id": "B \"2\"", "first_name": "Zoë\n\u{1}", "n": 7}),
            serde_json::json!({"authorizer_unique_id": 3, "address": {"city": "Ünna", "zip_code": "01"}}),
        ];
        let mut list = crate::authorizers::ListBuilder::with_capacity(3);
        for (row, object) in objects.iter().enumerate() {
            let serde_json::Value::Object(object) = object.clone() else {
                unreachable!()
            };
            let origin = Origin::Csv {
                file: std::path::Path::new("a.csv").into(),
                row: row as u64 + 2,
            };
            list.push(object, &Metadata::from_pairs([("k", "v")]), origin);
        }
        let chunk = list.finish();
        for url in [None, Some("https://x.test/hook?token=a\"b\\c&d=é")] {
            let mut expected = serde_json::json!({ "authorizers": objects });
            if let Some(url) = url {
                expected["webhook_url"] = url.into();
            }
            assert_eq!(
                String::from_utf8(request_body(&chunk, url)).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
        assert_eq!(
            chunk.iter().map(Authorizer::id).collect::<Vec<_>>(),
            ["A-1", "B \"2\"", "3"]
        );
        assert_eq!(chunk[1].metadata().get("k"), Some("v"));
    }
}

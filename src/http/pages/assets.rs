//! The one stylesheet, built into the binary and served under a name that carries a
//! hash of its content, so browsers may keep it for a year: a new version is a new
//! name. Light and dark follow `prefers-color-scheme`; the charts' placeholder colours
//! are mapped to the theme here.

use std::sync::LazyLock;

use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

/// The stylesheet's text.
const STYLESHEET: &str = include_str!("style.css");

/// `/assets/style.<first 12 hex digits of its SHA-256>.css`.
static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = hex::encode(Sha256::digest(STYLESHEET.as_bytes()));
    format!("/assets/style.{}.css", &digest[..12])
});

/// Where the stylesheet is served.
pub fn stylesheet_path() -> &'static str {
    STYLESHEET_PATH.as_str()
}

/// `GET` the stylesheet: immutable, cached for a year.
pub async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_stylesheet_is_named_by_its_content() {
        let path = super::stylesheet_path();
        assert!(path.starts_with("/assets/style.") && path.ends_with(".css"));
        assert_eq!(path.len(), "/assets/style..css".len() + 12);
    }
}

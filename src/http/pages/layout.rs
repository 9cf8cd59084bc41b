//! What every page shares: the frame around its content (title, navigation, log-out
//! form, stylesheet), rendering a template into a response, and the message page for
//! what is not there or cannot be read.

use askama::Template;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets;
use super::session::Visitor;

/// The frame's settings; every page template has one as `layout`.
pub struct Layout {
    pub title: String,
    /// Which navigation entry is current: `overview`, `debits`, `alerts`, `outbox` or ``.
    pub section: &'static str,
    pub stylesheet: &'static str,
    /// The CSRF token of this visitor's forms.
    pub csrf: String,
    pub can_log_out: bool,
    pub version: &'static str,
}

impl Layout {
    pub fn new(title: impl Into<String>, section: &'static str, visitor: &Visitor) -> Layout {
        Layout {
            title: title.into(),
            section,
            stylesheet: assets::stylesheet_path(),
            csrf: visitor.csrf().to_string(),
            can_log_out: visitor.can_log_out,
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// A page with a heading and one paragraph: not found, cannot be read.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub layout: Layout,
    pub text: String,
}

/// The login form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub problem: Option<&'static str>,
}

impl LoginPage {
    pub fn new(problem: Option<&'static str>) -> LoginPage {
        LoginPage {
            layout: Layout::new("Log in", "", &Visitor::default()),
            problem,
        }
    }
}

/// `template` as an HTML response with `status`.
pub fn html(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => {
            let mut response = (status, body).into_response();
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "a dashboard page could not be rendered");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered\n",
            )
                .into_response()
        }
    }
}

/// A message page titled `title` with `text`.
pub fn message(mut layout: Layout, status: StatusCode, title: &str, text: &str) -> Response {
    layout.title = title.to_string();
    html(
        status,
        &MessagePage {
            layout,
            text: text.to_string(),
        },
    )
}

/// The 404 page for `what` (`run 12`, `monitor nightly`).
pub fn not_found(layout: Layout, what: &str) -> Response {
    message(
        layout,
        StatusCode::NOT_FOUND,
        "Not found",
        &format!("The store has no {what}."),
    )
}

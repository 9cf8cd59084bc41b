//! The web dashboard: server-rendered pages on the daemon's listener, with no script.
//!
//! | route | page | file |
//! |---|---|---|
//! | `GET /` | every monitor: last run, next run, alerts firing, outbox backlog, at-risk chart | `monitors` |
//! | `GET /monitors/{name}` | a monitor's runs, newest first and paged, with a chart | `monitors` |
//! | `GET /runs/{id}` | a run's counts, its batches' timeline, the authorizers without a balance, its alerts | `run` |
//! | `GET /authorizers/{id}` | an authorizer's balance chart, checks and alerts | `authorizer` |
//! | `GET /alerts`, `POST /alerts/silence` | alerts filtered by URL, silencing one, the active silences | `alerts` |
//! | `GET /outbox`, `POST /outbox/{id}/retry` | notifications not delivered, and "retry now" | `outbox` |
//! | `GET /debits`, `GET /debits.csv` | the send/hold/unknown list of a settlement date, and its CSV | `debits` |
//! | `GET`/`POST /login`, `POST /logout` | the session (see `session`) | `session` |
//! | `GET /assets/style.<hash>.css` | the one stylesheet, cached for a year | `assets` |
//!
//! Templates are askama's, checked at compile time (`templates/`); charts are inline
//! SVG from `chart`. Every answer carries a strict Content-Security-Policy (no script
//! at all, styles only from the stylesheet, no framing), `Referrer-Policy: no-referrer`
//! and `X-Content-Type-Options: nosniff`, and is compressed when the browser accepts
//! gzip. The pages read the store through its interface and write only a silence and
//! "retry now". They show ids and the store's own fields: the store holds no personal
//! data, so no page can.

mod alerts;
mod assets;
mod authorizer;
mod chart;
mod debits;
mod format;
mod layout;
mod monitors;
mod outbox;
mod run;
mod session;

pub use session::Sessions;

use axum::Router;
use axum::extract::{Form, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, SET_COOKIE, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{from_fn_with_state, map_response};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;

use super::HttpState;
use layout::{Layout, LoginPage};

/// The pages' Content-Security-Policy: nothing but this origin's stylesheet and
/// forms, no script, no framing.
pub const CONTENT_SECURITY_POLICY_VALUE: &str = "default-src 'none'; style-src 'self'; \
     img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'; \
     script-src 'none'";

/// The dashboard's routes, for [`super::router`].
pub fn router(state: HttpState) -> Router<HttpState> {
    let behind_session = Router::new()
        .route("/", get(monitors::overview))
        .route("/monitors/{name}", get(monitors::monitor))
        .route("/runs/{id}", get(run::run))
        .route("/authorizers/{id}", get(authorizer::authorizer))
        .route("/alerts", get(alerts::alerts))
        .route("/alerts/silence", post(alerts::silence))
        .route("/outbox", get(outbox::outbox))
        .route("/outbox/{id}/retry", post(outbox::retry))
        .route("/debits", get(debits::debits))
        .route("/debits.csv", get(debits::debits_csv))
        .route("/logout", post(logout))
        .layer(from_fn_with_state(state, session::require_session));
    Router::new()
        .route("/login", get(login_form).post(login))
        .route(assets::stylesheet_path(), get(assets::stylesheet))
        .merge(behind_session)
        .layer(map_response(security_headers))
        .layer(CompressionLayer::new())
}

/// The headers every page and asset carries.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY_VALUE),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `GET /login`: the form, or the overview when no token is configured.
async fn login_form(State(state): State<HttpState>) -> Response {
    if state.access.keys().token.is_none() {
        return Redirect::to("/").into_response();
    }
    layout::html(StatusCode::OK, &LoginPage::new(None))
}

/// `POST /login`: a session for the right token; the form again, after a second,
/// for a wrong one.
async fn login(State(state): State<HttpState>, Form(form): Form<session::LoginForm>) -> Response {
    match session::log_in(&state, &form.token).await {
        session::Login::NotNeeded => Redirect::to("/").into_response(),
        session::Login::Accepted(cookie) => {
            let mut response = Redirect::to("/").into_response();
            response.headers_mut().append(SET_COOKIE, cookie);
            response
        }
        session::Login::Refused => layout::html(
            StatusCode::UNAUTHORIZED,
            &LoginPage::new(Some("That token is not the one configured (http.token).")),
        ),
    }
}

/// What a form that changes something carries.
#[derive(serde::Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub(super) csrf: String,
}

/// `POST /logout`: ends the session.
async fn logout(
    State(state): State<HttpState>,
    axum::Extension(visitor): axum::Extension<session::Visitor>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !visitor.csrf_matches(&form.csrf) {
        return session::csrf_refused();
    }
    session::log_out(&state, &headers)
}

/// The page for a store that cannot be read: the error goes to the log, not the page.
fn store_failed(layout: Layout, error: &crate::store::StoreError) -> Response {
    tracing::error!(%error, "a dashboard page could not read the store");
    layout::message(
        layout,
        StatusCode::SERVICE_UNAVAILABLE,
        "The store cannot be read just now",
        "The daemon's log says why. Reload the page in a moment.",
    )
}

//! The HTTP routes of the demo shop. Every handler runs its work inside
//! [`Model::handle`], which supplies the queueing, the service time and the counters; bad
//! input gets a JSON error with a 4xx status, never a panic.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::assets::{ASSETS, Asset, HOME_HTML};
use super::model::{Model, Route};
use super::shop::{self, PRODUCTS, Sessions};

#[derive(Clone)]
struct App {
    model: Arc<Model>,
    sessions: Arc<Sessions>,
}

type Params = HashMap<String, String>;

/// Search results carry at most this many items; `total` counts them all.
const SEARCH_LIMIT: usize = 20;

pub(crate) fn router(model: Arc<Model>, sessions: Arc<Sessions>) -> Router {
    // WebSocket endpoints (`/ws/echo`, `/ws/session`): see `super::ws`.
    let ws = super::ws::router(Arc::clone(&sessions), model.closing());
    let app = App { model, sessions };
    let mut router = Router::new()
        .route("/", get(home))
        .route("/api/products", get(products))
        .route("/api/products/{id}", get(product))
        .route("/api/search", get(search))
        .route("/api/login", post(login))
        .route("/api/cart", get(cart).post(add_to_cart))
        .route("/health", get(health));
    for asset in ASSETS.iter() {
        router = router.route(
            asset.path,
            get(move |app, headers| static_file(app, headers, asset)),
        );
    }
    // Routes with known answers (custom metrics, uploads, batches): src/demo/measure.rs.
    let router = super::measure::add(router);
    // A deliberately slow variant of the home page (Lighthouse scores it lower).
    let router = super::slow_page::add(router);
    router.fallback(not_found).with_state(app).merge(ws)
}

async fn home(State(app): State<App>) -> Response {
    app.model
        .handle(Route::Home, || Html(HOME_HTML).into_response())
        .await
}

async fn static_file(
    State(app): State<App>,
    headers: HeaderMap,
    asset: &'static Asset,
) -> Response {
    app.model
        .handle(Route::Static, || asset.respond(&headers))
        .await
}

async fn products(
    State(app): State<App>,
    query: Result<Query<Params>, QueryRejection>,
) -> Response {
    app.model
        .handle(Route::Products, || -> Result<Response, ApiError> {
            let Query(params) = query.map_err(ApiError::bad_query)?;
            let page = number(&params, "page", 1, 1..=u32::MAX)?;
            let per_page = number(&params, "per_page", 20, 1..=100)?;
            let items = shop::page(page, per_page);
            let body =
                json!({ "items": items, "page": page, "per_page": per_page, "total": PRODUCTS });
            Ok(Json(body).into_response())
        })
        .await
}

async fn product(State(app): State<App>, id: Result<Path<String>, PathRejection>) -> Response {
    app.model
        .handle(Route::Product, || -> Result<Response, ApiError> {
            let Path(id) = id.map_err(|r| ApiError::new(StatusCode::BAD_REQUEST, r.body_text()))?;
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
                let msg = format!("product id {id:?} is not a number");
                return Err(ApiError::new(StatusCode::BAD_REQUEST, msg));
            }
            let product = id.parse().ok().and_then(shop::product);
            let product = product.ok_or_else(|| ApiError::no_product(&id))?;
            Ok(Json(product).into_response())
        })
        .await
}

async fn search(State(app): State<App>, query: Result<Query<Params>, QueryRejection>) -> Response {
    app.model
        .handle(Route::Search, || -> Result<Response, ApiError> {
            let Query(params) = query.map_err(ApiError::bad_query)?;
            let q = params.get("q").ok_or_else(|| {
                ApiError::new(StatusCode::BAD_REQUEST, "missing query parameter `q`")
            })?;
            let (items, total) = shop::search(q, SEARCH_LIMIT);
            Ok(Json(json!({ "items": items, "total": total })).into_response())
        })
        .await
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn login(State(app): State<App>, body: Result<Bytes, BytesRejection>) -> Response {
    app.model
        .handle(Route::Login, || -> Result<Response, ApiError> {
            let credentials: Credentials = parse_json(body)?;
            if credentials.username.trim().is_empty() || credentials.password.is_empty() {
                let msg = "`username` and `password` must not be empty";
                return Err(ApiError::new(StatusCode::BAD_REQUEST, msg));
            }
            let token = app.sessions.login(credentials.username.trim());
            Ok(Json(json!({ "token": token })).into_response())
        })
        .await
}

async fn cart(State(app): State<App>, headers: HeaderMap) -> Response {
    app.model
        .handle(Route::Cart, || -> Result<Response, ApiError> {
            let token = bearer(&headers).ok_or_else(ApiError::unauthorized)?;
            let cart = app
                .sessions
                .cart(token)
                .ok_or_else(ApiError::unauthorized)?;
            Ok(Json(cart).into_response())
        })
        .await
}

#[derive(Deserialize)]
struct CartLine {
    product_id: u32,
    #[serde(default = "one")]
    qty: u32,
}

fn one() -> u32 {
    1
}

async fn add_to_cart(
    State(app): State<App>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    app.model
        .handle(Route::Cart, || -> Result<Response, ApiError> {
            let token = bearer(&headers)
                .filter(|token| app.sessions.cart(token).is_some())
                .ok_or_else(ApiError::unauthorized)?;
            let line: CartLine = parse_json(body)?;
            if line.qty == 0 {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "`qty` must be at least 1",
                ));
            }
            if shop::product(line.product_id).is_none() {
                return Err(ApiError::no_product(&line.product_id.to_string()));
            }
            let cart = app.sessions.add(token, line.product_id, line.qty);
            Ok(Json(cart.ok_or_else(ApiError::unauthorized)?).into_response())
        })
        .await
}

async fn health(State(app): State<App>) -> Response {
    app.model
        .handle(Route::Health, || Json(json!({ "status": "ok" })))
        .await
}

async fn not_found(State(app): State<App>) -> Response {
    app.model.count_unmatched();
    ApiError::new(StatusCode::NOT_FOUND, "no such route").into_response()
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Query parameter `key` as a number in `range`, or `default` when it is absent.
fn number(
    params: &Params,
    key: &str,
    default: u32,
    range: RangeInclusive<u32>,
) -> Result<u32, ApiError> {
    let Some(raw) = params.get(key) else {
        return Ok(default);
    };
    match raw.parse() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => {
            let (lo, hi) = range.into_inner();
            let msg = format!("`{key}` = {raw:?}: expected a whole number from {lo} to {hi}");
            Err(ApiError::new(StatusCode::BAD_REQUEST, msg))
        }
    }
}

fn parse_json<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>) -> Result<T, ApiError> {
    let body = body.map_err(|r| ApiError::new(r.status(), r.body_text()))?;
    serde_json::from_slice(&body)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("malformed JSON body: {e}")))
}

/// A 4xx answer: `{"error": message}`, with a `Bearer` challenge on 401.
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn bad_query(rejection: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
    }

    fn no_product(id: &str) -> ApiError {
        let msg = format!("no product {id}: ids run from 1 to {PRODUCTS}");
        ApiError::new(StatusCode::NOT_FOUND, msg)
    }

    fn unauthorized() -> ApiError {
        let msg = "missing or unknown bearer token: POST /api/login first, \
                   then send `Authorization: Bearer <token>`";
        ApiError::new(StatusCode::UNAUTHORIZED, msg)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            let challenge = HeaderValue::from_static("Bearer");
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_reads_the_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer"));
        assert_eq!(bearer(&headers), None);
    }

    #[test]
    fn number_checks_the_range() {
        let params: Params = [("per_page".to_owned(), "500".to_owned())].into();
        assert_eq!(number(&params, "page", 1, 1..=10).ok(), Some(1));
        let err = number(&params, "per_page", 20, 1..=100).err().unwrap();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(
            err.message.contains("`per_page` = \"500\""),
            "{}",
            err.message
        );
    }
}

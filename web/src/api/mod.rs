//! The JSON API under `/api/v1`: everything the pages do. Reads come from one store snapshot
//! ([`crate::model`]); every change goes to the engine as a command carrying who, from where and
//! why, or (accounts, settings, assets, the stream) is recorded in the audit trail by
//! [`crate::record`].

use std::sync::OnceLock;

use domain::engine::{CampaignSpec, OperatorAction};
use salvo::http::cookie::{Cookie, SameSite};
use salvo::http::{HeaderValue, StatusCode};
use salvo::oapi::endpoint;
use salvo::prelude::*;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use store::{AuctionId, Audit, CampaignId, OutboxId, Reader, UserId};

use crate::accounts::{self, AccountView, Role};
use crate::session::{COOKIE, Session};
use crate::{
    App, Guard, Refusal, UpdateAction, app, assets, audit, charts, client_ip, model, record,
    refuse, session,
};

/// The API's routes, each behind the role it needs.
pub fn router() -> Router {
    let viewer = Router::new()
        .hoop(Guard::api(Role::Viewer))
        .push(Router::with_path("logout").post(account::logout))
        .push(Router::with_path("me").get(account::me))
        .push(Router::with_path("me/password").post(account::change_password))
        .push(Router::with_path("me/totp/setup").post(account::totp_setup))
        .push(Router::with_path("me/totp/enable").post(account::totp_enable))
        .push(Router::with_path("me/totp/disable").post(account::totp_disable))
        .push(Router::with_path("dashboard").get(campaign::dashboard))
        .push(Router::with_path("events").get(crate::live::events))
        .push(Router::with_path("auctions").get(campaign::auctions))
        .push(Router::with_path("auctions/{id}").get(campaign::auction))
        .push(Router::with_path("campaigns").get(campaign::campaigns))
        .push(Router::with_path("bidders").get(campaign::bidders))
        .push(Router::with_path("bidders/{id}").get(campaign::bidder))
        .push(Router::with_path("search").get(campaign::search))
        .push(Router::with_path("reports/daily").get(campaign::report_daily))
        .push(Router::with_path("reports/campaign").get(campaign::report_campaign))
        .push(Router::with_path("reports/transactions").get(campaign::report_transactions))
        .push(Router::with_path("charts/price/{id}").get(charts::price))
        .push(Router::with_path("charts/bids-per-hour").get(charts::bids_per_hour))
        .push(Router::with_path("assets").get(assets::list))
        .push(Router::with_path("assets/{name}").get(assets::get))
        .push(Router::with_path("outbox").get(campaign::outbox))
        .push(Router::with_path("audit").get(campaign::audit_log))
        .push(Router::with_path("stream").get(stream::stream_status))
        .push(Router::with_path("stream/preview").get(stream::stream_preview))
        .push(Router::with_path("stream/scenes").get(stream::scenes))
        .push(Router::with_path("stream/scenes/{phase}/preview").get(stream::scene_preview))
        .push(Router::with_path("system").get(system::system));
    let operator = Router::new()
        .hoop(Guard::api(Role::Operator))
        .push(Router::with_path("auctions/{id}/pause").post(campaign::pause))
        .push(Router::with_path("auctions/{id}/resume").post(campaign::resume))
        .push(Router::with_path("auctions/{id}/extend").post(campaign::extend))
        .push(Router::with_path("auctions/{id}/cancel").post(campaign::cancel))
        .push(Router::with_path("auctions/{id}/settle").post(campaign::settle))
        .push(Router::with_path("auctions/{id}/override").post(campaign::override_auction))
        .push(Router::with_path("campaigns").post(campaign::create_campaign))
        .push(Router::with_path("campaigns/{id}").put(campaign::edit_campaign))
        .push(Router::with_path("bidders/{id}/refund").post(campaign::refund))
        .push(Router::with_path("assets").post(assets::upload))
        .push(Router::with_path("assets/{name}").delete(assets::remove))
        .push(Router::with_path("outbox/{id}/approve").post(campaign::approve))
        .push(Router::with_path("outbox/{id}/reject").post(campaign::reject))
        .push(Router::with_path("stream/start").post(stream::stream_start))
        .push(Router::with_path("stream/stop").post(stream::stream_stop))
        .push(Router::with_path("stream/standby").post(stream::standby_on))
        .push(Router::with_path("stream/standby/off").post(stream::standby_off))
        .push(Router::with_path("stream/scenes").put(stream::save_scenes))
        .push(Router::with_path("host/say").post(stream::host_say))
        .push(Router::with_path("host/voice-test").post(stream::host_voice_test))
        .push(Router::with_path("host/character").put(stream::save_character))
        .push(Router::with_path("host/preview").post(stream::host_preview));
    let admin = Router::new()
        .hoop(Guard::api(Role::Admin))
        .push(
            Router::with_path("settings")
                .get(system::settings)
                .put(system::save_settings),
        )
        .push(
            Router::with_path("users")
                .get(system::users)
                .post(system::create_user),
        )
        .push(
            Router::with_path("users/{name}")
                .put(system::edit_user)
                .delete(system::delete_user),
        )
        .push(Router::with_path("update").get(system::update_status))
        .push(Router::with_path("update/check").post(system::update_check))
        .push(Router::with_path("update/apply").post(system::update_apply))
        .push(Router::with_path("update/rollback").post(system::update_rollback));
    Router::with_path("api/v1")
        .push(Router::with_path("login").post(account::login))
        .push(viewer)
        .push(operator)
        .push(admin)
}

mod account;
mod campaign;
mod stream;
mod system;

// ---- helpers ----------------------------------------------------------------------------------

/// The HTTP status of an engine refusal.
fn status_of(code: &str) -> StatusCode {
    match code {
        "invalid_request" => StatusCode::BAD_REQUEST,
        "not_found" => StatusCode::NOT_FOUND,
        "invalid_state" | "conflict" => StatusCode::CONFLICT,
        "unavailable" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn fail(res: &mut Response, r: Refusal) {
    let status = status_of(&r.code);
    res.status_code(status);
    res.render(Json(r));
}

/// A request body as JSON (bounded by salvo's secure size limit).
async fn body<T: DeserializeOwned>(req: &mut Request) -> Result<T, Refusal> {
    req.parse_json::<T>().await.map_err(|e| {
        Refusal::new(
            "invalid_request",
            format!("the request body is not what this takes: {e}"),
        )
    })
}

fn reader(app: &App) -> Result<Reader, Refusal> {
    app.store
        .read()
        .map_err(|e| Refusal::new("storage", format!("cannot read the database: {e}")))
}

/// Answers with `f(snapshot)` as JSON, or the error.
fn read<T: Serialize + Send + 'static>(
    depot: &Depot,
    res: &mut Response,
    f: impl FnOnce(&Reader) -> model::Result<T>,
) {
    let app = app(depot);
    match reader(&app).and_then(|r| f(&r).map_err(|e| Refusal::new("storage", e))) {
        Ok(v) => res.render(Json(v)),
        Err(e) => fail(res, e),
    }
}

/// Answers with the `{id}` record `f` finds, 404 when there is none.
fn read_one<T: Serialize + Send + 'static>(
    req: &Request,
    depot: &Depot,
    res: &mut Response,
    what: &str,
    f: impl FnOnce(&Reader, u64) -> model::Result<Option<T>>,
) {
    let Some(id) = id_param(req, res) else { return };
    let app = app(depot);
    match reader(&app).and_then(|r| f(&r, id).map_err(|e| Refusal::new("storage", e))) {
        Ok(Some(d)) => res.render(Json(d)),
        Ok(None) => refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} {id}"),
        ),
        Err(e) => fail(res, e),
    }
}

fn id_param(req: &Request, res: &mut Response) -> Option<u64> {
    let id = req
        .param::<String>("id")
        .and_then(|s| s.parse::<u64>().ok());
    if id.is_none() {
        refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the id is a number",
        );
    }
    id
}

fn who(depot: &Depot) -> Session {
    session(depot).unwrap_or_else(|| unreachable!("the guard sets the session"))
}

/// Carries out an operator action and answers with the engine's reply.
async fn act(depot: &Depot, res: &mut Response, action: OperatorAction, audit: Audit) {
    let app = app(depot);
    match app.backend.act(action, audit).await {
        Ok(reply) => res.render(Json(reply)),
        Err(e) => fail(res, e.into()),
    }
}

/// A typed value read from its text form, as the engine reads it (amounts need their unit or
/// are wei; times are RFC 3339).
fn typed<T: DeserializeOwned>(field: &str, text: String) -> Result<T, Refusal> {
    serde_json::from_value(Value::String(text))
        .map_err(|e| Refusal::new("invalid_request", format!("{field}: {e}")))
}

/// A campaign as the page's form sends it.
fn campaign_spec(spec: Value) -> Result<Box<CampaignSpec>, Refusal> {
    serde_json::from_value(spec)
        .map(Box::new)
        .map_err(|e| Refusal::new("invalid_request", format!("the campaign is not valid: {e}")))
}

/// The reason every manual auction action needs.
#[derive(Deserialize, salvo::oapi::ToSchema)]
struct Reason {
    /// Why (kept in the audit trail).
    reason: String,
}

fn need_reason(reason: &str, res: &mut Response) -> Option<String> {
    let reason = reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give a reason (up to 500 characters)",
        );
        return None;
    }
    Some(reason.to_string())
}

/// A request body that carries the reason every manual action needs.
trait Reasoned: DeserializeOwned {
    fn reason(&self) -> &str;
}

impl Reasoned for Reason {
    fn reason(&self) -> &str {
        &self.reason
    }
}

/// Carries out the operator action that `make` builds from the path's id and the body, with
/// the body's reason (required) in the audit trail.
async fn reasoned<T: Reasoned>(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
    make: impl FnOnce(u64, T) -> Result<OperatorAction, Refusal>,
) {
    let Some(id) = id_param(req, res) else { return };
    let b: T = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(b.reason(), res) else {
        return;
    };
    let action = match make(id, b) {
        Ok(action) => action,
        Err(e) => return fail(res, e),
    };
    let s = who(depot);
    act(depot, res, action, audit(&s, req, &reason)).await;
}

/// An action that takes only a reason.
async fn reason_only(
    action: impl FnOnce(u64) -> OperatorAction,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    reasoned(req, depot, res, |id, _: Reason| Ok(action(id))).await;
}

/// Writes the account list through the engine (durable like everything else), only if nobody
/// changed it since it was read (a `conflict` otherwise: read again and retry).
async fn save_accounts(app: &App, list: accounts::AccountList) -> Result<(), Refusal> {
    list.save(app.backend.as_ref()).await
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Rows as CSV (columns in name order), RFC 4180 quoting.
fn csv<T: Serialize>(rows: &[T]) -> String {
    fn cell(v: &Value) -> String {
        let text = match v {
            Value::Null => String::new(),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        // A leading formula character is neutralised so a spreadsheet shows text, not a formula.
        let text = if text.starts_with(['=', '+', '-', '@']) && text.parse::<f64>().is_err() {
            format!("'{text}")
        } else {
            text
        };
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    }
    let values: Vec<Value> = rows
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect();
    let Some(Value::Object(first)) = values.first() else {
        return String::new();
    };
    let keys: Vec<String> = first.keys().cloned().collect();
    let mut out = keys.join(",");
    out.push_str("\r\n");
    for v in &values {
        let line: Vec<String> = keys.iter().map(|k| cell(&v[k])).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

/// Answers with rows as JSON, or as a CSV download with `?format=csv`.
fn table<T: Serialize + Send + 'static>(
    req: &Request,
    depot: &Depot,
    res: &mut Response,
    name: &str,
    f: impl FnOnce(&Reader) -> model::Result<Vec<T>>,
) {
    let app = app(depot);
    let rows = match reader(&app).and_then(|r| f(&r).map_err(|e| Refusal::new("storage", e))) {
        Ok(rows) => rows,
        Err(e) => return fail(res, e),
    };
    if req.query::<String>("format").as_deref() == Some("csv") {
        res.headers_mut().insert(
            "content-type",
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.csv\"")) {
            res.headers_mut().insert("content-disposition", v);
        }
        let _ = res.write_body(csv(&rows));
    } else {
        res.render(Json(rows));
    }
}

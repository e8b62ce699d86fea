//! The JSON API under `/api/v1`: everything the pages do. Reads come from one store snapshot
//! ([`crate::model`]); every change goes to the engine as a command carrying who, from where and
//! why, or (accounts, settings, assets, the stream) is recorded in the audit trail by
//! [`crate::record`].

use std::sync::OnceLock;

use salvo::http::cookie::{Cookie, SameSite};
use salvo::http::{HeaderValue, StatusCode};
use salvo::oapi::endpoint;
use salvo::prelude::*;
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use store::Reader;

use crate::accounts::{self, AccountView, Role};
use crate::session::{COOKIE, Session};
use crate::{
    App, Guard, Refusal, app, assets, audit, charts, client_ip, model, record, refuse, session,
};

/// The API's routes, each behind the role it needs.
pub fn router() -> Router {
    let viewer = Router::new()
        .hoop(Guard::api(Role::Viewer))
        .push(Router::with_path("logout").post(logout))
        .push(Router::with_path("me").get(me))
        .push(Router::with_path("me/password").post(change_password))
        .push(Router::with_path("me/totp/setup").post(totp_setup))
        .push(Router::with_path("me/totp/enable").post(totp_enable))
        .push(Router::with_path("me/totp/disable").post(totp_disable))
        .push(Router::with_path("dashboard").get(dashboard))
        .push(Router::with_path("events").get(crate::live::events))
        .push(Router::with_path("auctions").get(auctions))
        .push(Router::with_path("auctions/{id}").get(auction))
        .push(Router::with_path("campaigns").get(campaigns))
        .push(Router::with_path("bidders").get(bidders))
        .push(Router::with_path("bidders/{id}").get(bidder))
        .push(Router::with_path("search").get(search))
        .push(Router::with_path("reports/daily").get(report_daily))
        .push(Router::with_path("reports/campaign").get(report_campaign))
        .push(Router::with_path("reports/transactions").get(report_transactions))
        .push(Router::with_path("charts/price/{id}").get(charts::price))
        .push(Router::with_path("charts/bids-per-hour").get(charts::bids_per_hour))
        .push(Router::with_path("assets").get(assets::list))
        .push(Router::with_path("assets/{name}").get(assets::get))
        .push(Router::with_path("outbox").get(outbox))
        .push(Router::with_path("audit").get(audit_log))
        .push(Router::with_path("stream").get(stream_status))
        .push(Router::with_path("stream/preview").get(stream_preview))
        .push(Router::with_path("stream/scenes").get(scenes))
        .push(Router::with_path("stream/scenes/{phase}/preview").get(scene_preview))
        .push(Router::with_path("system").get(system));
    let operator = Router::new()
        .hoop(Guard::api(Role::Operator))
        .push(Router::with_path("auctions/{id}/pause").post(pause))
        .push(Router::with_path("auctions/{id}/resume").post(resume))
        .push(Router::with_path("auctions/{id}/extend").post(extend))
        .push(Router::with_path("auctions/{id}/cancel").post(cancel))
        .push(Router::with_path("auctions/{id}/settle").post(settle))
        .push(Router::with_path("auctions/{id}/override").post(override_auction))
        .push(Router::with_path("campaigns").post(create_campaign))
        .push(Router::with_path("campaigns/{id}").put(edit_campaign))
        .push(Router::with_path("bidders/{id}/refund").post(refund))
        .push(Router::with_path("assets").post(assets::upload))
        .push(Router::with_path("assets/{name}").delete(assets::remove))
        .push(Router::with_path("outbox/{id}/approve").post(approve))
        .push(Router::with_path("outbox/{id}/reject").post(reject))
        .push(Router::with_path("stream/start").post(stream_start))
        .push(Router::with_path("stream/stop").post(stream_stop))
        .push(Router::with_path("stream/scenes").put(save_scenes));
    let admin = Router::new()
        .hoop(Guard::api(Role::Admin))
        .push(
            Router::with_path("settings")
                .get(settings)
                .put(save_settings),
        )
        .push(Router::with_path("users").get(users).post(create_user))
        .push(
            Router::with_path("users/{name}")
                .put(edit_user)
                .delete(delete_user),
        );
    Router::with_path("api/v1")
        .push(Router::with_path("login").post(login))
        .push(viewer)
        .push(operator)
        .push(admin)
}

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

/// Runs an engine command and answers with its reply.
async fn execute(depot: &Depot, res: &mut Response, command: Value) {
    let app = app(depot);
    match app.backend.execute(command).await {
        Ok(reply) => res.render(Json(reply)),
        Err(e) => fail(res, e),
    }
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

/// An auction action that takes only a reason.
async fn auction_action(command: &str, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let r: Reason = match body(req).await {
        Ok(r) => r,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(&r.reason, res) else {
        return;
    };
    let s = who(depot);
    let cmd = json!({"command": command, "auction": id, "audit": audit(&s, req, &reason)});
    execute(depot, res, cmd).await;
}

/// Writes the account list through the engine (durable like everything else) and adopts it.
async fn save_accounts(app: &App, list: accounts::AccountList) -> Result<(), Refusal> {
    app.backend
        .execute(
            json!({"command": "save_state", "key": accounts::STATE_KEY, "value": list.to_json()}),
        )
        .await?;
    Ok(())
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

// ---- login and the account ----------------------------------------------------------------------

/// Credentials.
#[derive(Deserialize, salvo::oapi::ToSchema)]
struct Login {
    /// Account name.
    username: String,
    /// Password.
    password: String,
    /// The authenticator's 6-digit code, when two-factor is on.
    #[serde(default)]
    totp: Option<String>,
}

/// A hash to verify against when the account does not exist, so both cases take as long.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        accounts::hash_password("decoy password for unknown accounts").unwrap_or_default()
    })
}

/// Logs in: sets the session cookie and returns the CSRF token. Five failures per address or per
/// account in 15 minutes block further tries for a while.
#[endpoint(tags("account"))]
async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let l: Login = match body(req).await {
        Ok(l) => l,
        Err(e) => return fail(res, e),
    };
    let ip = client_ip(req);
    let keys = vec![
        format!("ip:{ip}"),
        format!("user:{}", l.username.to_lowercase()),
    ];
    if let Some(wait) = app.throttle.blocked(&keys) {
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert("retry-after", v);
        }
        return refuse(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            ),
        );
    }
    let account = app.account_list().get(&l.username).cloned();
    let hash = account
        .as_ref()
        .map_or_else(|| decoy_hash().to_string(), |a| a.hash.clone());
    let password = l.password.clone();
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    let Some(account) = account.filter(|a| ok && !a.disabled) else {
        app.throttle.fail(&keys);
        tracing::warn!(user = %l.username, %ip, "failed login");
        return refuse(
            res,
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong name or password",
        );
    };
    if let Some(secret) = &account.totp {
        match l.totp.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => {
                return refuse(
                    res,
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "enter the code from your authenticator",
                );
            }
            Some(code) if !accounts::check_totp(secret, &account.name, code, unix_now()) => {
                app.throttle.fail(&keys);
                tracing::warn!(user = %l.username, %ip, "failed login (two-factor code)");
                return refuse(
                    res,
                    StatusCode::UNAUTHORIZED,
                    "bad_totp",
                    "wrong two-factor code",
                );
            }
            Some(_) => {}
        }
    }
    app.throttle.clear(&keys[1]);
    let (token, s) = app.sessions.create(&account.name, account.role, &ip);
    let mut cookie = Cookie::new(COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_secure(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    res.add_cookie(cookie);
    record(&app, &s, req, "login", "").await;
    res.render(Json(
        json!({"user": s.user, "role": s.role, "csrf": s.csrf}),
    ));
}

/// Ends the session.
#[endpoint(tags("account"))]
async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    if let Some(c) = req.cookie(COOKIE) {
        app.sessions.remove(c.value());
    }
    let mut gone = Cookie::new(COOKIE, "");
    gone.set_path("/");
    gone.set_http_only(true);
    gone.set_secure(true);
    gone.set_same_site(SameSite::Strict);
    gone.make_removal();
    res.add_cookie(gone);
    res.render(Json(json!({"ok": true})));
}

/// Who is logged in.
#[endpoint(tags("account"))]
async fn me(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let totp = app.has_totp(&s.user);
    res.render(Json(json!({"user": s.user, "role": s.role, "totp": totp})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct PasswordChange {
    /// The password now.
    current: String,
    /// The new one (12 characters or more).
    new: String,
}

/// Changes one's own password (other sessions of the account end).
#[endpoint(tags("account"))]
async fn change_password(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let p: PasswordChange = match body(req).await {
        Ok(p) => p,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(account) = list.get(&s.user).cloned() else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    let (hash, current) = (account.hash.clone(), p.current.clone());
    if !tokio::task::spawn_blocking(move || accounts::verify_password(&hash, &current))
        .await
        .unwrap_or(false)
    {
        return refuse(
            res,
            StatusCode::FORBIDDEN,
            "bad_credentials",
            "the current password is wrong",
        );
    }
    if let Err(e) = list.set_password(&s.user, &p.new, account.role) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&s.user);
    record(&app, &s, req, "password_changed", &s.user).await;
    res.render(Json(json!({"ok": true, "logged_out": true})));
}

/// Starts two-factor enrolment: a new secret, its otpauth URL and QR code (SVG). It takes
/// effect once a code from it is confirmed.
#[endpoint(tags("account"))]
async fn totp_setup(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let mut list = app.account_list();
    let secret = accounts::new_totp_secret();
    let Some(a) = list.get_mut(&s.user) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    a.totp_pending = Some(secret.clone());
    let (url, svg) = match accounts::totp_enrolment(&secret, &s.user) {
        Ok(x) => x,
        Err(e) => return refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    record(&app, &s, req, "totp_setup", &s.user).await;
    res.render(Json(json!({"secret": secret, "url": url, "qr_svg": svg})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct Code {
    /// A 6-digit code from the authenticator.
    code: String,
}

/// Turns two-factor on (with a first code from the enrolled secret) or off (with a current code).
async fn totp_switch(enable: bool, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let c: Code = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(a) = list.get_mut(&s.user) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    let (secret, missing) = if enable {
        (a.totp_pending.clone(), "start the set-up first")
    } else {
        (a.totp.clone(), "two-factor is not on")
    };
    let Some(secret) = secret else {
        return refuse(res, StatusCode::CONFLICT, "invalid_state", missing);
    };
    if !accounts::check_totp(&secret, &s.user, &c.code, unix_now()) {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "bad_totp",
            "wrong two-factor code; check the authenticator's clock",
        );
    }
    a.totp_pending = None;
    a.totp = enable.then_some(secret);
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    let action = if enable {
        "totp_enabled"
    } else {
        "totp_disabled"
    };
    record(&app, &s, req, action, &s.user).await;
    res.render(Json(json!({"ok": true})));
}

/// Turns two-factor on with a first code from the enrolled secret.
#[endpoint(tags("account"))]
async fn totp_enable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    totp_switch(true, req, depot, res).await;
}

/// Turns two-factor off (needs a current code).
#[endpoint(tags("account"))]
async fn totp_disable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    totp_switch(false, req, depot, res).await;
}

// ---- the campaign ---------------------------------------------------------------------------------

/// The dashboard (the live events carry the same object).
#[endpoint(tags("dashboard"))]
async fn dashboard(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.live.current(&app) {
        Ok(d) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("application/json"));
            let _ = res.write_body(d.to_vec());
        }
        Err(e) => fail(res, Refusal::new("storage", e)),
    }
}

/// Every auction.
#[endpoint(tags("auctions"))]
async fn auctions(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::auctions);
}

/// One auction with its bids.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    read_one(req, depot, res, "auction", model::auction_detail);
}

/// Stops bidding, keeping the time left.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn pause(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    auction_action("pause", req, depot, res).await;
}

/// Restarts bidding.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn resume(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    auction_action("resume", req, depot, res).await;
}

/// Calls the auction off.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn cancel(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    auction_action("cancel", req, depot, res).await;
}

/// Ends the auction now and settles it with the leader.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn settle(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    auction_action("force_settle", req, depot, res).await;
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct Extend {
    /// Seconds to add (1 to 86,400).
    seconds: u32,
    /// Why.
    reason: String,
}

/// Moves the end later.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn extend(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let e: Extend = match body(req).await {
        Ok(e) => e,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(&e.reason, res) else {
        return;
    };
    let s = who(depot);
    let cmd = json!({"command": "extend", "auction": id, "seconds": e.seconds, "audit": audit(&s, req, &reason)});
    execute(depot, res, cmd).await;
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct Override {
    /// New end of bidding (RFC 3339).
    #[serde(default)]
    ends_at: Option<String>,
    /// New reserve, in wei (only before the first bid).
    #[serde(default)]
    reserve_wei: Option<String>,
    /// Reopen a closed auction (needs `ends_at`).
    #[serde(default)]
    reopen: bool,
    /// Why.
    reason: String,
}

/// An audited manual correction.
#[endpoint(tags("auctions"), parameters(("id" = u64, Path, description = "auction id")))]
async fn override_auction(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let o: Override = match body(req).await {
        Ok(o) => o,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(&o.reason, res) else {
        return;
    };
    let s = who(depot);
    let blank = |v: Option<String>| v.map(|x| x.trim().to_string()).filter(|x| !x.is_empty());
    let cmd = json!({
        "command": "override", "auction": id,
        "ends_at": blank(o.ends_at), "reserve": blank(o.reserve_wei), "reopen": o.reopen,
        "audit": audit(&s, req, &reason),
    });
    execute(depot, res, cmd).await;
}

/// Every campaign, as its edit form shows it.
#[endpoint(tags("campaigns"))]
async fn campaigns(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::campaigns);
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct CampaignBody {
    /// The campaign (name, start_date, days, timezone, windows, rules, host_handle, items).
    #[salvo(schema(value_type = Object))]
    spec: Value,
    /// Why.
    #[serde(default)]
    reason: String,
}

/// Creates a campaign and schedules its auctions.
#[endpoint(tags("campaigns"))]
async fn create_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let c: CampaignBody = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let s = who(depot);
    let reason = if c.reason.trim().is_empty() {
        "new campaign"
    } else {
        c.reason.trim()
    };
    let cmd =
        json!({"command": "create_campaign", "spec": c.spec, "audit": audit(&s, req, reason)});
    execute(depot, res, cmd).await;
}

/// Changes a campaign (its schedule only before its first auction opens).
#[endpoint(tags("campaigns"), parameters(("id" = u64, Path, description = "campaign id")))]
async fn edit_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let c: CampaignBody = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let s = who(depot);
    let reason = if c.reason.trim().is_empty() {
        "campaign edited"
    } else {
        c.reason.trim()
    };
    let cmd = json!({"command": "edit_campaign", "campaign": id, "spec": c.spec, "audit": audit(&s, req, reason)});
    execute(depot, res, cmd).await;
}

/// Every bidder with their escrow.
#[endpoint(tags("bidders"))]
async fn bidders(depot: &mut Depot, res: &mut Response) {
    read(depot, res, model::bidders);
}

/// One bidder: wallet, deposits, bids, refunds.
#[endpoint(tags("bidders"), parameters(("id" = u64, Path, description = "bidder's X id")))]
async fn bidder(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    read_one(req, depot, res, "bidder", model::bidder_detail);
}

/// Refunds everything the bidder has available.
#[endpoint(tags("bidders"), parameters(("id" = u64, Path, description = "bidder's X id")))]
async fn refund(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let r: Reason = match body(req).await {
        Ok(r) => r,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(&r.reason, res) else {
        return;
    };
    let s = who(depot);
    let cmd =
        json!({"command": "withdraw", "user": id.to_string(), "audit": audit(&s, req, &reason)});
    execute(depot, res, cmd).await;
}

/// Full-text search over tweets, bids and events (`q`, `limit` up to 200).
#[endpoint(tags("search"))]
async fn search(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let q = req.query::<String>("q").unwrap_or_default();
    let limit = req.query::<usize>("limit").unwrap_or(50).clamp(1, 200);
    if q.trim().is_empty() || q.len() > 500 {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "give a query (up to 500 characters)",
        );
    }
    let index = app.search.clone();
    match tokio::task::spawn_blocking(move || index.search(&q, limit)).await {
        Ok(Ok(hits)) => res.render(Json(hits)),
        Ok(Err(e)) => refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            e.to_string(),
        ),
        Err(e) => refuse(
            res,
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            e.to_string(),
        ),
    }
}

/// One row per auction day (`?format=csv` for a spreadsheet).
#[endpoint(tags("reports"))]
async fn report_daily(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "daily", model::daily);
}

/// The campaign's totals.
#[endpoint(tags("reports"))]
async fn report_campaign(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "campaign", |r| {
        model::campaign_report(r).map(|c| vec![c])
    });
}

/// Every movement of money: deposits, refunds, sales (`?format=csv`).
#[endpoint(tags("reports"))]
async fn report_transactions(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    table(req, depot, res, "transactions", model::transactions);
}

/// Outbox rows (tweets and chain transactions), newest first; `?open=true` for undelivered.
#[endpoint(tags("outbox"))]
async fn outbox(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let open = req.query::<bool>("open").unwrap_or(false);
    let limit = req.query::<usize>("limit").unwrap_or(200).clamp(1, 2000);
    read(depot, res, |r| model::outbox(r, open, limit));
}

async fn review(accept: bool, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let Some(id) = id_param(req, res) else { return };
    let r: Reason = match body(req).await {
        Ok(r) => r,
        Err(e) => return fail(res, e),
    };
    let Some(reason) = need_reason(&r.reason, res) else {
        return;
    };
    let s = who(depot);
    let cmd = json!({"command": "review_outbox", "id": id, "approve": accept, "audit": audit(&s, req, &reason)});
    execute(depot, res, cmd).await;
}

/// Approves a held tweet (or retries a failed row).
#[endpoint(tags("outbox"), parameters(("id" = u64, Path, description = "outbox row")))]
async fn approve(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    review(true, req, depot, res).await;
}

/// Rejects a held tweet.
#[endpoint(tags("outbox"), parameters(("id" = u64, Path, description = "outbox row")))]
async fn reject(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    review(false, req, depot, res).await;
}

/// The audit trail, newest first.
#[endpoint(tags("audit"))]
async fn audit_log(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let limit = req.query::<usize>("limit").unwrap_or(200).clamp(1, 2000);
    read(depot, res, |r| model::audit(r, limit, 200_000));
}

// ---- the stream -----------------------------------------------------------------------------------

/// Whether the stream runs, and its health.
#[endpoint(tags("stream"))]
async fn stream_status(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(
        json!({"streaming": app.backend.streaming(), "stats": app.backend.status()["stream"]}),
    ));
}

/// The composed frame now, as JPEG.
#[endpoint(tags("stream"))]
async fn stream_preview(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.backend.frame_jpeg().await {
        Ok(jpeg) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("image/jpeg"));
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            let _ = res.write_body(jpeg);
        }
        Err(e) => refuse(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

/// The scene file (TOML).
#[endpoint(tags("stream"))]
async fn scenes(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(json!({"toml": app.backend.scenes()})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct ScenesBody {
    /// The whole scene file (TOML).
    toml: String,
}

/// Replaces the scenes after checking them.
#[endpoint(tags("stream"))]
async fn save_scenes(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let b: ScenesBody = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    if let Err(e) = app.backend.set_scenes(&b.toml) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "scenes_saved",
        &format!("{} bytes", b.toml.len()),
    )
    .await;
    res.render(Json(json!({"ok": true})));
}

/// A render of the `pre`, `live` or `post` scene with the data now, as PNG.
#[endpoint(tags("stream"), parameters(("phase" = String, Path, description = "pre, live or post")))]
async fn scene_preview(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let phase = req.param::<String>("phase").unwrap_or_default();
    if !matches!(phase.as_str(), "pre" | "live" | "post") {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "the scene is pre, live or post",
        );
    }
    match app.backend.scene_preview(phase).await {
        Ok(png) => {
            res.headers_mut()
                .insert("content-type", HeaderValue::from_static("image/png"));
            res.headers_mut()
                .insert("cache-control", HeaderValue::from_static("no-store"));
            let _ = res.write_body(png);
        }
        Err(e) => refuse(res, StatusCode::SERVICE_UNAVAILABLE, "unavailable", e),
    }
}

async fn switch_stream(on: bool, req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    if let Err(e) = app.backend.set_streaming(on).await {
        return refuse(res, StatusCode::CONFLICT, "invalid_state", e);
    }
    record(
        &app,
        &s,
        req,
        if on {
            "stream_started"
        } else {
            "stream_stopped"
        },
        "",
    )
    .await;
    res.render(Json(json!({"streaming": app.backend.streaming()})));
}

/// Starts streaming.
#[endpoint(tags("stream"))]
async fn stream_start(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_stream(true, req, depot, res).await;
}

/// Stops streaming.
#[endpoint(tags("stream"))]
async fn stream_stop(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    switch_stream(false, req, depot, res).await;
}

// ---- the box ----------------------------------------------------------------------------------------

/// Health of each part, resource use, recent log lines.
#[endpoint(tags("system"))]
async fn system(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let status = app.backend.status();
    res.render(Json(json!({
        "status": status,
        "sessions": app.sessions.count(),
        "search_indexed_through": app.search.indexed_through().unwrap_or(0),
        "process": crate::live::process_stats(),
        "log": app.backend.log_lines(200),
    })));
}

/// The settings; secrets only as set or not.
#[endpoint(tags("settings"))]
async fn settings(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(app.backend.settings()));
}

/// Saves settings (`{"section.key": value}`); they apply at the next start.
#[endpoint(tags("settings"))]
async fn save_settings(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let changes: Value = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let Some(map) = changes.as_object().filter(|m| !m.is_empty()) else {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"section.key\": value, ...}",
        );
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    match app.backend.save_settings(&changes) {
        Ok(now) => {
            let s = who(depot);
            // The keys changed, never their values (some are secrets).
            record(&app, &s, req, "settings_saved", &keys.join(", ")).await;
            res.render(Json(now));
        }
        Err(e) => refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e),
    }
}

/// Every account.
#[endpoint(tags("users"))]
async fn users(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let list: Vec<AccountView> = app
        .account_list()
        .users
        .iter()
        .map(AccountView::from)
        .collect();
    res.render(Json(list));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct NewUser {
    /// Login name.
    name: String,
    /// `admin`, `operator` or `viewer`.
    role: Role,
    /// A password (12+ characters); none: one is made and returned once.
    #[serde(default)]
    password: Option<String>,
}

/// Creates an account; returns its password when one was made.
#[endpoint(tags("users"))]
async fn create_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let u: NewUser = match body(req).await {
        Ok(u) => u,
        Err(e) => return fail(res, e),
    };
    if let Err(e) = accounts::check_name(&u.name) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    let mut list = app.account_list();
    if list.get(&u.name).is_some() {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "conflict",
            format!("{} exists", u.name),
        );
    }
    let made = u.password.is_none();
    let password = u.password.unwrap_or_else(accounts::random_password);
    if let Err(e) = list.set_password(&u.name, &password, u.role) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "user_created",
        &format!("{} ({})", u.name, u.role.as_str()),
    )
    .await;
    res.status_code(StatusCode::CREATED);
    res.render(Json(
        json!({"name": u.name, "role": u.role, "password": made.then_some(password)}),
    ));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
struct EditUser {
    /// New role.
    #[serde(default)]
    role: Option<Role>,
    /// Block or unblock logins.
    #[serde(default)]
    disabled: Option<bool>,
    /// Make a new password (returned once).
    #[serde(default)]
    reset_password: bool,
    /// Turn two-factor off (a lost phone).
    #[serde(default)]
    reset_totp: bool,
}

/// Changes an account; its sessions end. The last admin stays an enabled admin.
#[endpoint(tags("users"), parameters(("name" = String, Path, description = "account name")))]
async fn edit_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let e: EditUser = match body(req).await {
        Ok(e) => e,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(a) = list.get_mut(&name) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {name}"),
        );
    };
    let mut changes = Vec::new();
    if let Some(role) = e.role {
        a.role = role;
        changes.push(format!("role {}", role.as_str()));
    }
    if let Some(d) = e.disabled {
        a.disabled = d;
        changes.push(if d {
            "disabled".into()
        } else {
            "enabled".into()
        });
    }
    if e.reset_totp {
        a.totp = None;
        a.totp_pending = None;
        changes.push("two-factor reset".into());
    }
    let role = a.role;
    let mut password = None;
    if e.reset_password {
        let p = accounts::random_password();
        if let Err(e) = list.set_password(&name, &p, role) {
            return refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
        }
        password = Some(p);
        changes.push("password reset".into());
    }
    if list.admins() == 0 {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "invalid_state",
            "keep at least one enabled admin",
        );
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&name);
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "user_changed",
        &format!("{name}: {}", changes.join(", ")),
    )
    .await;
    res.render(Json(
        json!({"name": name, "role": role, "password": password}),
    ));
}

/// Removes an account (not the last admin) and ends its sessions.
#[endpoint(tags("users"), parameters(("name" = String, Path, description = "account name")))]
async fn delete_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let mut list = app.account_list();
    let before = list.users.len();
    list.users.retain(|u| u.name != name);
    if list.users.len() == before {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {name}"),
        );
    }
    if list.admins() == 0 {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "invalid_state",
            "keep at least one enabled admin",
        );
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&name);
    let s = who(depot);
    record(&app, &s, req, "user_deleted", &name).await;
    res.render(Json(json!({"ok": true})));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        #[derive(Serialize)]
        struct R {
            a: String,
            b: u32,
        }
        let out = csv(&[
            R {
                a: "x,\"y\"".into(),
                b: 1,
            },
            R {
                a: "=HYPERLINK(\"evil\")".into(),
                b: 2,
            },
            R {
                a: "-0.5".into(),
                b: 3,
            },
        ]);
        assert_eq!(
            out,
            "a,b\r\n\"x,\"\"y\"\"\",1\r\n\"'=HYPERLINK(\"\"evil\"\")\",2\r\n-0.5,3\r\n"
        );
        assert_eq!(status_of("not_found"), StatusCode::NOT_FOUND);
        assert_eq!(status_of("invalid_state"), StatusCode::CONFLICT);
    }
}

//! The LAN admin page and its JSON API (salvo), served by `appliance run`.
//!
//! - HTTPS with a self-signed certificate made on first start ([`tls`]); a plain-HTTP port only
//!   redirects to it.
//! - Accounts with argon2id passwords, optional TOTP, and three roles ([`accounts`]); sessions in
//!   HttpOnly, Secure, SameSite=Strict cookies with idle and absolute timeouts, a CSRF token on
//!   every state-changing request, login throttling per address and per account ([`session`]).
//! - Server-rendered pages with a little hand-written JavaScript ([`pages`]); everything they do
//!   goes through the versioned JSON API under `/api/v1` ([`api`]), described by the OpenAPI
//!   document at `/api/v1/openapi.json`. The dashboard updates live over server-sent events.
//! - `/healthz`, `/readyz` and `/metrics` (Prometheus) are the only routes without a session.
//!
//! The page reads store snapshots and talks to the rest of the appliance only through
//! [`Backend`]: engine commands (each state-changing action lands in the event log with who, from
//! where and why), status, the stream, settings.

pub mod accounts;
mod api;
mod assets;
pub mod backend;
mod charts;
mod html;
mod live;
pub mod metrics;
mod model;
mod pages;
pub mod process;
pub mod session;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use domain::engine::OperatorAction;
use salvo::conn::Acceptor as _;
use salvo::conn::rustls::{Keycert, RustlsConfig};
use salvo::http::StatusCode;
use salvo::prelude::*;
use store::search::SearchIndex;
use store::{Audit, Store};
use tokio::sync::{broadcast, watch};

pub use accounts::Role;
pub use backend::{Backend, BoxFut, Preview, Refusal, UpdateAction};

use crate::session::{COOKIE, Session, Sessions, Throttle, same_secret};

/// Where and how to serve.
#[derive(Clone, Debug)]
pub struct WebConfig {
    /// HTTPS address.
    pub listen: SocketAddr,
    /// Plain-HTTP address that only redirects to HTTPS (`None`: none).
    pub redirect_listen: Option<SocketAddr>,
    /// Certificate, key and search index live here.
    pub dir: PathBuf,
    /// Host names and addresses the certificate names.
    pub cert_names: Vec<String>,
    /// A session ends after this long unused...
    pub session_idle: Duration,
    /// ...and this long after login, whatever happens.
    pub session_max: Duration,
    /// Largest upload.
    pub max_upload: usize,
}

/// What every handler shares.
pub struct App {
    backend: Arc<dyn Backend>,
    store: Arc<Store>,
    search: Arc<SearchIndex>,
    sessions: Sessions,
    /// Failed logins per client address (5 in 15 minutes).
    throttle: Throttle,
    /// Failed logins per account from all addresses together (50 in 15 minutes): high enough
    /// that one address cannot lock an account out, low enough to slow a guessing campaign.
    account_throttle: Throttle,
    /// Two-factor codes already used.
    used_codes: session::UsedCodes,
    live: live::Live,
    metrics: metrics::Metrics,
    config: WebConfig,
}

/// The running admin page.
pub struct Web {
    /// SHA-256 fingerprint of the certificate served.
    pub fingerprint: String,
    /// Where HTTPS is served.
    pub addr: SocketAddr,
    /// The certificate file.
    pub cert_path: PathBuf,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    handles: Vec<salvo::server::ServerHandle>,
}

impl Web {
    /// Stops serving (open connections get a few seconds).
    pub async fn stop(self) {
        for h in &self.handles {
            h.stop_graceful(Duration::from_secs(3));
        }
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// What the first start prints: the admin's one-time password, if an account was just made.
pub struct FirstStart {
    /// The admin account's name.
    pub user: String,
    /// Its password (shown once).
    pub password: String,
}

impl App {
    /// The accounts as stored now (the store is the only copy, so `appliance admin
    /// set-password` takes effect at once). Unreadable accounts let nobody in.
    fn account_list(&self) -> accounts::AccountList {
        match self
            .store
            .read()
            .map_err(|e| e.to_string())
            .and_then(|r| accounts::AccountList::read(&r))
        {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the admin accounts");
                accounts::AccountList::default()
            }
        }
    }
}

impl App {
    /// Whether `user` signs in with two factors.
    fn has_totp(&self, user: &str) -> bool {
        self.account_list()
            .get(user)
            .is_some_and(|a| a.totp.is_some())
    }
}

/// Starts serving. Creates the `admin` account with a random password when there is none (the
/// password is returned, to be printed once).
pub async fn start(
    config: WebConfig,
    backend: Arc<dyn Backend>,
    store: Arc<Store>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<(Web, Option<FirstStart>)> {
    let cert = tls::load_or_create(&config.dir.join("tls"), &config.cert_names)
        .map_err(anyhow::Error::msg)?;
    let search = Arc::new(SearchIndex::open(&config.dir.join("search"))?);
    let mut list = accounts::AccountList::read(&store.read()?).map_err(anyhow::Error::msg)?;
    let mut first = None;
    if list.users.is_empty() {
        let password = accounts::random_password();
        list.set_password("admin", &password, Role::Admin)
            .map_err(anyhow::Error::msg)?;
        list.save(backend.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("cannot store the admin account: {}", e.message))?;
        first = Some(FirstStart {
            user: "admin".into(),
            password,
        });
    }
    let (tx, _) = broadcast::channel(64);
    let metrics = metrics::Metrics::new(backend.metrics());
    let app = Arc::new(App {
        backend,
        store,
        search,
        sessions: Sessions::new(config.session_idle, config.session_max),
        throttle: Throttle::new(5, Duration::from_secs(15 * 60)),
        account_throttle: Throttle::new(50, Duration::from_secs(15 * 60)),
        used_codes: session::UsedCodes::default(),
        live: live::Live::new(tx),
        metrics,
        config: config.clone(),
    });
    let mut tasks = vec![tokio::spawn(live::follow(app.clone(), stop.clone()))];
    let router = router(app.clone());
    let tls = RustlsConfig::new(
        Keycert::new()
            .cert(cert.cert_pem.as_bytes().to_vec())
            .key(cert.key_pem.as_bytes().to_vec()),
    );
    let acceptor = TcpListener::new(config.listen)
        .rustls(tls)
        .try_bind()
        .await?;
    let addr = acceptor
        .holdings()
        .first()
        .and_then(|h| h.local_addr.clone().into_std())
        .unwrap_or(config.listen);
    let server = Server::new(acceptor);
    let mut handles = vec![server.handle()];
    tasks.push(tokio::spawn(async move { server.serve(router).await }));
    if let Some(redirect) = config.redirect_listen {
        let acceptor = TcpListener::new(redirect).try_bind().await?;
        let server = Server::new(acceptor);
        handles.push(server.handle());
        let port = addr.port();
        let to_https = Router::with_path("{**rest}").goal(RedirectToHttps { port });
        tasks.push(tokio::spawn(async move { server.serve(to_https).await }));
    }
    let stopper = handles.clone();
    let mut stop_rx = stop;
    tasks.push(tokio::spawn(async move {
        while !*stop_rx.borrow() {
            if stop_rx.changed().await.is_err() {
                break;
            }
        }
        for h in &stopper {
            h.stop_graceful(Duration::from_secs(3));
        }
    }));
    Ok((
        Web {
            fingerprint: cert.fingerprint,
            addr,
            cert_path: cert.cert_path,
            tasks,
            handles,
        },
        first,
    ))
}

/// Sends plain-HTTP requests to the HTTPS port.
struct RedirectToHttps {
    port: u16,
}

#[async_trait]
impl Handler for RedirectToHttps {
    async fn handle(&self, req: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        let host = req
            .header::<String>("host")
            .map(|h| h.split(':').next().unwrap_or("").to_string())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b))
            })
            .unwrap_or_else(|| "localhost".into());
        let path = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_string();
        res.render(Redirect::permanent(format!(
            "https://{host}:{}{path}",
            self.port
        )));
    }
}

/// The whole route tree.
fn router(app: Arc<App>) -> Router {
    let api = api::router();
    let doc = salvo::oapi::OpenApi::new("SothebAIs appliance", "1").merge_router(&api);
    Router::new()
        .hoop(Inject(app))
        .hoop(SecurityHeaders)
        .push(Router::with_path("healthz").get(live::healthz))
        .push(Router::with_path("readyz").get(live::readyz))
        .push(Router::with_path("metrics").get(live::metrics))
        .push(Router::with_path("static/{file}").get(html::static_file))
        .push(Router::with_path("login").get(pages::login))
        .push(
            Router::with_path("api/v1/openapi.json")
                .hoop(Guard::api(Role::Viewer))
                .get(OpenApiDoc(doc)),
        )
        .push(api)
        .push(pages::router())
}

/// Serves the OpenAPI document.
struct OpenApiDoc(salvo::oapi::OpenApi);

#[async_trait]
impl Handler for OpenApiDoc {
    async fn handle(&self, _: &mut Request, _: &mut Depot, res: &mut Response, _: &mut FlowCtrl) {
        match self.0.to_json() {
            Ok(json) => res.render(Text::Json(json)),
            Err(e) => res.render(StatusError::internal_server_error().brief(e.to_string())),
        }
    }
}

/// The OpenAPI document of the API (for the route test and tools).
pub fn openapi() -> salvo::oapi::OpenApi {
    salvo::oapi::OpenApi::new("SothebAIs appliance", "1").merge_router(&api::router())
}

/// Every (method, path) the API router serves.
pub fn api_routes() -> Vec<(String, String)> {
    fn walk(router: &Router, prefix: &str, out: &mut Vec<(String, String)>) {
        use salvo::routing::FilterInfo;
        let mut path = prefix.to_string();
        let mut method = None;
        for f in router.filters() {
            match f.info() {
                FilterInfo::Path(p) => {
                    path = format!("{}/{}", prefix.trim_end_matches('/'), p.trim_matches('/'));
                }
                FilterInfo::Method(m) => method = Some(m.to_string()),
                _ => {}
            }
        }
        if router.goal.is_some() {
            out.push((method.unwrap_or_else(|| "GET".into()), path.clone()));
        }
        for child in router.routers() {
            walk(child, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&api::router(), "", &mut out);
    out.sort();
    out.dedup();
    out
}

struct Inject(Arc<App>);

#[async_trait]
impl Handler for Inject {
    async fn handle(&self, _: &mut Request, depot: &mut Depot, _: &mut Response, _: &mut FlowCtrl) {
        depot.insert_typed(self.0.clone());
    }
}

/// Headers every answer carries: no framing, no sniffing, a strict content policy.
struct SecurityHeaders;

#[async_trait]
impl Handler for SecurityHeaders {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        let h = res.headers_mut();
        let set = |h: &mut salvo::http::HeaderMap, k: &'static str, v: &'static str| {
            h.insert(k, salvo::http::HeaderValue::from_static(v));
        };
        set(h, "x-content-type-options", "nosniff");
        set(h, "x-frame-options", "DENY");
        set(h, "referrer-policy", "no-referrer");
        set(
            h,
            "content-security-policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
        );
        set(h, "strict-transport-security", "max-age=31536000");
    }
}

/// The shared state (always injected by the root router).
fn app(depot: &Depot) -> Arc<App> {
    depot
        .get_typed::<Arc<App>>()
        .cloned()
        .unwrap_or_else(|_| unreachable!("the root router injects the app"))
}

/// The session of the request (set by [`Guard`]).
fn session(depot: &Depot) -> Option<Session> {
    depot.get_typed::<Session>().ok().cloned()
}

/// The client's address, without the port.
fn client_ip(req: &Request) -> String {
    req.remote_addr()
        .ip()
        .map_or_else(|| "unknown".to_string(), |ip| ip.to_string())
}

/// Answers with a refusal as JSON.
fn refuse(res: &mut Response, status: StatusCode, code: &str, message: impl Into<String>) {
    res.status_code(status);
    res.render(Json(Refusal::new(code, message)));
}

/// Lets a request through only with a live session of at least `role`; state-changing methods
/// also need the session's CSRF token and a same-origin `Origin` (when sent). Pages redirect to
/// the login instead of answering 401.
struct Guard {
    role: Role,
    page: bool,
}

impl Guard {
    fn api(role: Role) -> Guard {
        Guard { role, page: false }
    }
    fn page(role: Role) -> Guard {
        Guard { role, page: true }
    }
}

fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.header::<String>("origin") else {
        return true;
    };
    let host = req.header::<String>("host").unwrap_or_default();
    origin == format!("https://{host}")
}

#[async_trait]
impl Handler for Guard {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        let app = app(depot);
        let session = match depot.get_typed::<Session>() {
            Ok(s) => Some(s.clone()),
            Err(_) => req
                .cookie(COOKIE)
                .map(|c| c.value().to_string())
                .and_then(|token| app.sessions.get(&token)),
        };
        let Some(session) = session else {
            ctrl.skip_rest();
            if self.page {
                res.render(Redirect::other("/login"));
            } else {
                refuse(
                    res,
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "log in first",
                );
            }
            return;
        };
        if session.role < self.role {
            ctrl.skip_rest();
            let message = format!("this needs the {} role", self.role.as_str());
            if self.page {
                res.status_code(StatusCode::FORBIDDEN);
                res.render(Text::Html(html::error_page(
                    &session,
                    "Not allowed",
                    &message,
                )));
            } else {
                refuse(res, StatusCode::FORBIDDEN, "forbidden", message);
            }
            return;
        }
        let unsafe_method = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
        if unsafe_method {
            let token = req.header::<String>("x-csrf-token").unwrap_or_default();
            if !same_secret(&token, &session.csrf) || !same_origin(req) {
                ctrl.skip_rest();
                refuse(
                    res,
                    StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong CSRF token",
                );
                return;
            }
        }
        depot.insert_typed(session);
    }
}

/// Who is acting, for the audit trail.
fn audit(session: &Session, req: &Request, reason: &str) -> Audit {
    Audit {
        actor: session.user.clone(),
        origin: format!("admin page {}", client_ip(req)),
        reason: reason.to_string(),
    }
}

/// Records an administrative action in the event log.
async fn record(app: &App, session: &Session, req: &Request, action: &str, detail: &str) {
    let record = OperatorAction::Record {
        action: action.to_string(),
        detail: detail.to_string(),
    };
    if let Err(e) = app.backend.act(record, audit(session, req, "")).await {
        tracing::error!(action, error = %e.message, "the audit record could not be written");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_matches_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(&openapi().to_json().unwrap()).unwrap();
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.push((method.to_uppercase(), path.clone()));
                }
            }
        }
        documented.sort();
        let routes = api_routes();
        assert!(routes.len() > 40, "{routes:?}");
        assert!(routes.contains(&("POST".into(), "/api/v1/auctions/{id}/pause".into())));
        assert_eq!(documented, routes);
    }
}

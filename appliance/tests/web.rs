//! The admin page of the real binary: its security (every route refused without a session,
//! CSRF, roles, two-factor, throttling, uploads, secrets), its API description, and an
//! end-to-end run in headless Chromium driven through chromedriver.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::admin_page::{WebAppliance, free_port, unix_now};
use serde_json::{Value, json};

/// The routes with their placeholders filled.
fn concrete(path: &str) -> String {
    path.replace("{id}", "1")
        .replace("{name}", "x.png")
        .replace("{phase}", "live")
}

/// A PNG that says it is 30000 x 30000 (900 megapixels, 3.6 GB decoded) in a few hundred bytes.
fn png_bomb() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(out: &mut Vec<u8>, kind: &[u8], data: &[u8]) {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&30_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    // A zlib stream of one stored block of zeros: the start of the scanlines.
    let mut idat = vec![0x78, 0x01, 0x01, 0x00, 0x01, 0xFF, 0xFE];
    idat.extend_from_slice(&[0u8; 256]);
    chunk(&mut out, b"IDAT", &idat);
    chunk(&mut out, b"IEND", &[]);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_refuses_what_it_must() {
    let dir = tempfile::tempdir().unwrap();
    let redirect = free_port();
    let app = WebAppliance::start(
        dir.path(),
        &format!(
            "[web]\nlisten = \"127.0.0.1:0\"\nredirect_listen = \"127.0.0.1:{redirect}\"\nmax_upload_mib = 1\n[simulation]\nenabled = false"
        ),
        &[(
            "SOTHEBAIS_X__BEARER_TOKEN",
            "bearer-secret-that-must-not-leak",
        )],
    );
    let anon = app.client();

    // Without a session: only the probes and the login answer.
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(anon.get(path).await.status, 200, "{path}");
    }
    let metrics = anon.get("/metrics").await.text();
    for name in [
        "sothebais_bids_accepted_total",
        "sothebais_engine_commands_total",
        "sothebais_event_log_head",
        "sothebais_stream_running 0",
        "sothebais_x_posts_total{outcome=\"posted\"}",
        "process_resident_memory_bytes",
        "# EOF",
    ] {
        assert!(metrics.contains(name), "no {name} in /metrics:\n{metrics}");
    }
    let routes = web::api_routes();
    assert!(routes.len() > 40);
    for (method, path) in &routes {
        let r = anon.send(method, &concrete(path), json!({})).await;
        if path == "/api/v1/login" {
            assert_eq!(r.status, 400, "an empty login is not a login");
        } else {
            assert_eq!(
                r.status,
                401,
                "{method} {path} without a session: {}",
                r.text()
            );
            assert_eq!(r.json()["code"], "unauthenticated");
        }
    }
    assert_eq!(anon.get("/api/v1/openapi.json").await.status, 401);
    for page in [
        "/",
        "/stream",
        "/campaigns",
        "/auctions/1",
        "/bidders",
        "/search",
        "/reports",
        "/assets",
        "/outbox",
        "/audit",
        "/account",
        "/system",
        "/settings",
        "/users",
    ] {
        let r = anon.get(page).await;
        assert_eq!(r.status, 303, "{page}");
        assert_eq!(r.headers["location"], "/login");
    }
    let login_page = anon.get("/login").await;
    assert_eq!(login_page.status, 200);
    let csp = login_page.headers["content-security-policy"]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert_eq!(login_page.headers["x-frame-options"], "DENY");

    // Plain HTTP only redirects to HTTPS.
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    let r = plain
        .get(format!("http://127.0.0.1:{redirect}/auctions?x=1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 308);
    let port = app.base.rsplit(':').next().unwrap();
    assert_eq!(
        r.headers()["location"],
        format!("https://127.0.0.1:{port}/auctions?x=1")
    );

    // The admin, and CSRF.
    let mut admin = app.client();
    assert_eq!(
        admin.login("admin", "wrong password!", None).await.status,
        401
    );
    assert_eq!(
        admin.login("admin", &app.admin_password, None).await.status,
        200
    );
    let dash = admin.get("/api/v1/dashboard").await;
    assert_eq!(dash.status, 200);
    assert_eq!(dash.json()["auction"]["state"], "active");
    let pause = json!({"reason": "csrf test"});
    for (token, origin) in [
        (Some(""), None),
        (Some("forged0000000000000000000000000000"), None),
        (None, Some("https://evil.example")),
    ] {
        let headers: Vec<(&str, &str)> = origin.map(|o| vec![("origin", o)]).unwrap_or_default();
        let r = admin
            .send_raw(
                "POST",
                "/api/v1/auctions/1/pause",
                Some((pause.to_string().into_bytes(), "application/json")),
                token,
                &headers,
            )
            .await;
        assert_eq!(r.status, 403, "token {token:?} origin {origin:?}");
        assert_eq!(r.json()["code"], "csrf");
    }
    assert_eq!(
        admin.get("/api/v1/auctions/1").await.json()["auction"]["state"],
        "active",
        "nothing was paused"
    );
    let r = admin
        .send("POST", "/api/v1/auctions/1/pause", json!({"reason": " "}))
        .await;
    assert_eq!(r.status, 400, "a reason is required");

    // The OpenAPI document describes exactly the routes.
    let doc = admin.get("/api/v1/openapi.json").await.json();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(p, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.to_uppercase(), p.clone()))
        })
        .collect();
    documented.sort();
    assert_eq!(documented, routes);

    // A viewer reads and changes nothing.
    let made = admin
        .send(
            "POST",
            "/api/v1/users",
            json!({"name": "vera", "role": "viewer"}),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.text());
    let vera_password = made.json()["password"].as_str().unwrap().to_string();
    let mut viewer = app.client();
    assert_eq!(viewer.login("vera", &vera_password, None).await.status, 200);
    assert_eq!(viewer.get("/api/v1/dashboard").await.status, 200);
    assert_eq!(viewer.get("/").await.status, 200);
    assert_eq!(viewer.get("/settings").await.status, 403);
    for (method, path) in routes.iter().filter(|(m, p)| {
        m != "GET" && !p.starts_with("/api/v1/me") && p != "/api/v1/login" && p != "/api/v1/logout"
    }) {
        let r = viewer
            .send(method, &concrete(path), json!({"reason": "x"}))
            .await;
        assert_eq!(r.status, 403, "viewer {method} {path}: {}", r.text());
    }
    for path in ["/api/v1/settings", "/api/v1/users"] {
        assert_eq!(viewer.get(path).await.status, 403, "{path}");
    }

    // Secrets are write-only.
    let settings = admin.get("/api/v1/settings").await;
    assert_eq!(settings.status, 200);
    assert!(
        !settings.text().contains("bearer-secret"),
        "a secret was returned"
    );
    let bearer = settings.json()["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "x.bearer_token")
        .unwrap()
        .clone();
    assert_eq!(
        bearer,
        json!({"key": "x.bearer_token", "secret": true, "set": true})
    );
    let saved = admin
        .send(
            "PUT",
            "/api/v1/settings",
            json!({"x.consumer_key": "new-key-that-must-not-leak", "engine.max_batch": "256"}),
        )
        .await;
    assert_eq!(saved.status, 200, "{}", saved.text());
    assert!(!saved.text().contains("new-key-that"));
    let file = app.data.join("settings.toml");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("max_batch = 256")
    );
    assert_eq!(
        admin
            .send(
                "PUT",
                "/api/v1/settings",
                json!({"engine.max_batch": "many"})
            )
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .send("PUT", "/api/v1/settings", json!({"nope.key": 1}))
            .await
            .status,
        400
    );
    let log = std::fs::read_to_string(&app.running.log).unwrap();
    assert!(
        !log.contains("bearer-secret") && !log.contains("new-key-that"),
        "a secret reached the log"
    );

    // Uploads.
    let upload = |name: &str| format!("/api/v1/assets?name={name}");
    let picture = admin.get("/api/v1/stream/scenes/live/preview").await;
    assert_eq!(picture.status, 200);
    assert!(picture.body.starts_with(b"\x89PNG"));
    let r = admin
        .send_raw(
            "POST",
            &upload("bg-test.png"),
            Some((picture.body.clone(), "image/png")),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["width"], 1280);
    for (name, bytes, status, what) in [
        (
            "..%2Fescape.png",
            picture.body.clone(),
            400,
            "a path-traversal name",
        ),
        (
            "%2Fetc%2Fx.png",
            picture.body.clone(),
            400,
            "an absolute name",
        ),
        ("notes.txt", b"hello".to_vec(), 400, "a wrong extension"),
        (
            "fake.png",
            b"GIF89a\x01\x00\x01\x00".to_vec(),
            422,
            "a wrong type",
        ),
        (
            "disguised.jpg",
            picture.body.clone(),
            422,
            "a PNG named .jpg",
        ),
        ("big.png", vec![0u8; 2 << 20], 413, "an oversized file"),
        ("bomb.png", png_bomb(), 422, "a decompression bomb"),
    ] {
        let r = admin
            .send_raw("POST", &upload(name), Some((bytes, "image/png")), None, &[])
            .await;
        assert_eq!(r.status, status, "{what}: {}", r.text());
    }
    let bomb = admin
        .send_raw(
            "POST",
            &upload("bomb.png"),
            Some((png_bomb(), "image/png")),
            None,
            &[],
        )
        .await;
    assert!(
        bomb.json()["message"].as_str().unwrap().contains("30000"),
        "{}",
        bomb.text()
    );
    let names: Vec<String> = std::fs::read_dir(app.data.join("assets"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["bg-test.png".to_string()],
        "only the good picture landed"
    );
    assert!(!dir.path().join("escape.png").exists());
    assert_eq!(
        admin
            .send("DELETE", "/api/v1/assets/bg-test.png", json!({}))
            .await
            .status,
        200
    );

    // Two-factor sign-in.
    let setup = admin
        .send("POST", "/api/v1/me/totp/setup", json!({}))
        .await
        .json();
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(setup["qr_svg"].as_str().unwrap().contains("<svg"));
    assert_eq!(
        admin
            .send("POST", "/api/v1/me/totp/enable", json!({"code": "000000"}))
            .await
            .status,
        400
    );
    let code = web::accounts::totp_code(&secret, "admin", unix_now()).unwrap();
    assert_eq!(
        admin
            .send("POST", "/api/v1/me/totp/enable", json!({"code": code}))
            .await
            .status,
        200
    );
    let mut second = app.client();
    let r = second.login("admin", &app.admin_password, None).await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("totp_required"))
    );
    let wrong = if code == "123456" { "654321" } else { "123456" };
    let r = second
        .login("admin", &app.admin_password, Some(wrong))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("bad_totp"))
    );
    let code = web::accounts::totp_code(&secret, "admin", unix_now()).unwrap();
    assert_eq!(
        second
            .login("admin", &app.admin_password, Some(&code))
            .await
            .status,
        200
    );

    // The audit trail names who did what from where.
    let audit = admin.get("/api/v1/audit").await.json();
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for want in [
        "login",
        "user_created",
        "settings_saved",
        "asset_uploaded",
        "asset_deleted",
        "totp_enabled",
    ] {
        assert!(actions.contains(&want), "{want} not in {actions:?}");
    }
    let created = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "user_created")
        .unwrap();
    assert_eq!(created["actor"], "admin");
    assert_eq!(created["origin"], "admin page 127.0.0.1");

    // Logout ends the session.
    assert_eq!(
        second
            .send("POST", "/api/v1/logout", json!({}))
            .await
            .status,
        200
    );
    assert_eq!(second.get("/api/v1/dashboard").await.status, 401);

    // Throttling: after five failures from this address, even the right password waits.
    let mut attacker = app.client();
    let mut throttled = false;
    for _ in 0..6 {
        let r = attacker.login("vera", "not her password", None).await;
        if r.status == 429 {
            assert!(r.headers.contains_key("retry-after"));
            throttled = true;
            break;
        }
        assert_eq!(r.status, 401);
    }
    assert!(throttled, "no throttling after repeated failures");
    assert_eq!(
        attacker.login("vera", &vera_password, None).await.status,
        429
    );

    // `appliance admin set-password` works while the appliance runs, at once.
    let out = Command::new(common::binary())
        .args(["admin", "set-password", "--user", "ops", "--data"])
        .arg(&app.data)
        .args(["--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin
                .take()
                .unwrap()
                .write_all(b"a long operator password\n")?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users = admin.get("/api/v1/users").await.json();
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["name"] == "ops" && u["role"] == "admin"),
        "{users}"
    );
    let _ = app.running.terminate(Duration::from_secs(20));
}

// ---- headless Chromium -------------------------------------------------------------------------

/// chromedriver and one browser session, spoken to in WebDriver's JSON.
struct Browser {
    driver: Child,
    http: reqwest::Client,
    session: String,
    base: String,
}

impl Browser {
    async fn start() -> Browser {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (apt package chromium-driver; .ci/test installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            // The appliance's certificate is self-signed; the API tests pin it.
            "acceptInsecureCerts": true,
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-background-networking", "--window-size=1360,1000"],
            },
        }}});
        let r: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {r}"))
            .to_string();
        Browser {
            driver,
            http,
            session,
            base,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let r: Value = req.send().await.unwrap().json().await.unwrap();
        r["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({"url": url})).await;
    }

    async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    async fn find(&self, css: &str) -> String {
        let v = self
            .call(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call("POST", &format!("/element/{id}/clear"), json!({}))
            .await;
        self.call(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Accepts the confirmation dialog the page opens.
    async fn accept_dialog(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let v = self.call("POST", "/alert/accept", json!({})).await;
            if v.is_null() {
                return;
            }
            assert!(Instant::now() < deadline, "no confirmation dialog: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or("")
        .to_string()
    }

    async fn wait_text(
        &self,
        css: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let t = self.text(css).await;
            if check(&t) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; {css} shows: {t}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let v = self.call("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// The page speaks to the engine only through operator actions: whatever a session posts to
/// any route, it can neither record a deposit nor link a wallet as verified (those come only
/// from the chain and from signed tweets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_page_cannot_speak_for_the_chain_or_x() {
    let dir = tempfile::tempdir().unwrap();
    let app = WebAppliance::start(dir.path(), "[simulation]\nenabled = false", &[]);
    let mut ctl = app.running.ctl();
    ctl.execute_ok(
        json!({"command": "see_user", "id": "42", "handle": "mallory",
        "account_created": "2020-01-01T00:00:00Z"}),
    );
    let mut admin = app.client();
    assert_eq!(
        admin.login("admin", &app.admin_password, None).await.status,
        200
    );
    let wallet = "0x00000000000000000000000000000000000000a1";
    let forged = json!({
        // As an engine command...
        "command": "record_deposit", "from": wallet, "amount": "5 ETH", "reference": "forged:0",
        // ...as an operator action, if the page took any...
        "act": "link_wallet", "user": "42", "address": wallet, "verified": true,
        // ...and with what the routes ask for, so each gets past its own checks.
        "reason": "forged", "seconds": 60, "spec": {}, "toml": "", "enabled": true,
    });
    let mut tried = 0;
    for (method, path) in web::api_routes() {
        if method == "GET" || path.ends_with("/logout") || path.ends_with("/login") {
            continue;
        }
        let r = admin.send(&method, &concrete(&path), forged.clone()).await;
        assert_ne!(r.status, 500, "{method} {path}: {}", r.text());
        tried += 1;
    }
    assert!(tried > 20, "only {tried} routes tried");
    // Still logged in: the barrage did not end the session before it was done.
    assert_eq!(admin.get("/api/v1/me").await.status, 200);
    app.running.terminate(Duration::from_secs(30));
    let db = store::Store::open(&app.data.join("appliance.redb")).unwrap();
    let r = db.read().unwrap();
    use store::View as _;
    assert!(
        r.deposits().unwrap().is_empty(),
        "a deposit was recorded from the admin page"
    );
    assert_eq!(
        r.wallet(store::UserId(42)).unwrap(),
        None,
        "a wallet was linked from the admin page"
    );
    assert_eq!(r.wallet_owner(&wallet.parse().unwrap()).unwrap(), None);
}

/// A time zone where it is now between 01:00 and 20:59, so a window of today fits in the day.
fn daytime_zone() -> (&'static str, chrono::NaiveDateTime) {
    for tz in ["UTC", "Etc/GMT+6", "Etc/GMT-6"] {
        let zone: chrono_tz::Tz = tz.parse().unwrap();
        let local = chrono::Utc::now().with_timezone(&zone).naive_local();
        if (1..=20).contains(&chrono::Timelike::hour(&local)) {
            return (tz, local);
        }
    }
    unreachable!("one of three zones six hours apart is in daytime")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_runs_an_auction_from_the_browser() {
    let dir = tempfile::tempdir().unwrap();
    let app = WebAppliance::start(
        dir.path(),
        "[simulation]\nenabled = true\nbidders = 10\nthink_secs = 1\ndemo_campaign = false",
        &[],
    );
    // Two-factor is on for the admin, so the browser logs in with a code.
    let mut api = app.client();
    assert_eq!(
        api.login("admin", &app.admin_password, None).await.status,
        200
    );
    let secret = api
        .send("POST", "/api/v1/me/totp/setup", json!({}))
        .await
        .json()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let code = web::accounts::totp_code(&secret, "admin", unix_now()).unwrap();
    assert_eq!(
        api.send("POST", "/api/v1/me/totp/enable", json!({"code": code}))
            .await
            .status,
        200
    );

    let b = Browser::start().await;
    b.goto(&format!("{}/", app.base)).await;
    b.wait_text("h1", "the login page", Duration::from_secs(10), |t| {
        t == "Log in"
    })
    .await;
    b.type_into("input[name=username]", "admin").await;
    b.type_into("input[name=password]", &app.admin_password)
        .await;
    b.click("#login button").await;
    b.wait_text(
        "#flash",
        "the two-factor prompt",
        Duration::from_secs(10),
        |t| t.contains("authenticator"),
    )
    .await;
    let code = web::accounts::totp_code(&secret, "admin", unix_now()).unwrap();
    b.type_into("input[name=totp]", &code).await;
    b.click("#login button").await;
    b.wait_text("h1", "the dashboard", Duration::from_secs(10), |t| {
        t == "Dashboard"
    })
    .await;

    // A campaign whose first auction opens this minute.
    let (tz, local) = daytime_zone();
    let hm = |t: chrono::NaiveDateTime| t.format("%H:%M").to_string();
    let start = local - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&local)));
    b.goto(&format!("{}/campaigns", app.base)).await;
    b.wait_text("h1", "the campaigns page", Duration::from_secs(10), |t| {
        t == "Campaigns"
    })
    .await;
    let form = "#new-campaign form";
    b.type_into(
        &format!("{form} input[name='spec.name']"),
        "Browser Test Campaign",
    )
    .await;
    b.type_into(
        &format!("{form} input[name='spec.host_handle']"),
        "SothebAIs",
    )
    .await;
    b.type_into(&format!("{form} input[name='spec.timezone']"), tz)
        .await;
    b.type_into(
        &format!("{form} textarea[name='spec.items']"),
        "Test Piece One | Ada Pixel |\nTest Piece Two | Ada Pixel |",
    )
    .await;
    // Date and time inputs take their value in ISO form whatever the browser's locale.
    let set = "document.querySelector(arguments[0]).value = arguments[1];";
    for (field, value) in [
        ("spec.start_date", local.date().to_string()),
        ("spec.days", "2".to_string()),
        ("spec.windows.pre_auction_start", "00:00".to_string()),
        ("spec.windows.auction_start", hm(start)),
        (
            "spec.windows.auction_end",
            hm(start + chrono::Duration::minutes(150)),
        ),
        (
            "spec.windows.post_auction_end",
            hm(start + chrono::Duration::minutes(170)),
        ),
        ("spec.rules.reserve", "1000000000000000".to_string()),
        ("spec.rules.min_account_age_days", "0".to_string()),
        ("spec.rules.rate_limit_bids", "0".to_string()),
    ] {
        b.script(set, json!([format!("{form} [name='{field}']"), value]))
            .await;
    }
    b.click(&format!("{form} button")).await;
    b.accept_dialog().await;
    b.wait_text(
        "#flash",
        "the campaign to be created",
        Duration::from_secs(10),
        |t| t.contains("Done"),
    )
    .await;

    // The dashboard shows the auction opening and a simulated bid arriving, with no reload.
    b.goto(&format!("{}/", app.base)).await;
    b.script("window.__notReloaded = 42;", json!([])).await;
    b.wait_text(
        "#auction",
        "the auction to open",
        Duration::from_secs(90),
        |t| t.contains("Test Piece One") && t.contains("active"),
    )
    .await;
    let bids = b
        .wait_text(
            "#last-bids",
            "a simulated bid on the dashboard",
            Duration::from_secs(60),
            |t| t.contains("@sim_"),
        )
        .await;
    assert_eq!(
        b.script("return window.__notReloaded;", json!([])).await,
        42,
        "the page was reloaded"
    );
    assert!(bids.contains("ETH") || bids.contains('.'), "{bids}");
    b.screenshot("web-dashboard.png").await;

    // Pause it, with a reason (the page now shows the controls of the open auction).
    b.goto(&format!("{}/", app.base)).await;
    let auction_id = api.get("/api/v1/dashboard").await.json()["auction"]["id"]
        .as_u64()
        .unwrap();
    let pause = format!("form[data-api='/api/v1/auctions/{auction_id}/pause']");
    b.type_into(&format!("{pause} input[name=reason]"), "browser test pause")
        .await;
    b.click(&format!("{pause} button")).await;
    b.accept_dialog().await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let state = api
            .get(&format!("/api/v1/auctions/{auction_id}"))
            .await
            .json()["auction"]["state"]
            .clone();
        if state == "paused" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the auction was not paused: {state}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    b.wait_text(
        "#auction",
        "the paused state on the dashboard",
        Duration::from_secs(15),
        |t| t.contains("paused"),
    )
    .await;

    // The audit log shows who paused it, from where and why.
    b.goto(&format!("{}/audit", app.base)).await;
    let audit = b
        .wait_text(
            "#audit",
            "the pause in the audit log",
            Duration::from_secs(10),
            |t| t.contains("browser test pause"),
        )
        .await;
    let line = audit
        .lines()
        .find(|l| l.contains("browser test pause"))
        .unwrap();
    assert!(
        line.contains("admin") && line.contains("admin page 127.0.0.1"),
        "{line}"
    );
    b.screenshot("web-audit.png").await;
    for page in ["stream", "reports", "bidders", "system"] {
        b.goto(&format!("{}/{page}", app.base)).await;
        b.wait_text("main", page, Duration::from_secs(10), |t| !t.is_empty())
            .await;
        b.screenshot(&format!("web-{page}.png")).await;
    }
    drop(b);
    let _ = app.running.terminate(Duration::from_secs(20));
}

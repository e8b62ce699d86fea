//! The admin page end to end in headless Chromium, driven through chromedriver: an operator logs
//! in with two-factor, creates a campaign, sees bids arrive without reloading, and pauses the
//! auction with a reason that reaches the audit trail.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::admin_page::{WebAppliance, free_port, unix_now};
use serde_json::{Value, json};

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
        &[
            ("SOTHEBAIS_STREAM__ENABLED", "true"),
            ("SOTHEBAIS_STREAM__RECORD", "off"),
        ],
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
    // The next step's code: the one that turned two-factor on is spent (a code signs in once).
    let code = web::accounts::totp_code(&secret, "admin", unix_now() + 30).unwrap();
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

    // The Stream page's audio meter follows the program audio while the page stays open.
    // (The schedule may have started it already: either way it runs.)
    api.send("POST", "/api/v1/stream/start", json!({})).await;
    assert_eq!(
        api.get("/api/v1/stream").await.json()["streaming"],
        true,
        "the stream runs"
    );
    b.goto(&format!("{}/stream", app.base)).await;
    b.wait_text(
        "#audio-level",
        "the meter to read the stream's audio",
        Duration::from_secs(60),
        |t| t.contains("LUFS"),
    )
    .await;
    let meter = |id: &str| format!("return document.getElementById('{id}').value;");
    let peak = b.script(&meter("audio-peak"), json!([])).await;
    let loudness = b.script(&meter("audio-loudness"), json!([])).await;
    assert!(
        peak.as_f64().is_some_and(|p| p > -60.0 && p < 0.0),
        "peak meter {peak}"
    );
    assert!(
        loudness.as_f64().is_some_and(|l| l > -60.0 && l < 0.0),
        "loudness meter {loudness}"
    );

    // The host's character, edited in the browser: a mistake is named and nothing changes; a
    // good edit is saved and used at once.
    let editor = "form[data-api='/api/v1/host/character']";
    let edit = "const t = document.querySelector(arguments[0] + ' textarea'); \
                t.value = t.value.replace(/^name = .*$/m, arguments[1]);";
    b.script(edit, json!([editor, "name = \"\""])).await;
    b.click(&format!("{editor} button")).await;
    b.accept_dialog().await;
    b.wait_text(
        "#flash",
        "the empty name to be refused",
        Duration::from_secs(10),
        |t| t.contains("name"),
    )
    .await;
    b.goto(&format!("{}/stream", app.base)).await;
    b.script(edit, json!([editor, "name = \"Lady Gavel\""]))
        .await;
    b.click(&format!("{editor} button")).await;
    b.accept_dialog().await;
    b.wait_text(
        "#flash",
        "the character to be saved",
        Duration::from_secs(10),
        |t| t.contains("Done"),
    )
    .await;
    b.goto(&format!("{}/stream", app.base)).await;
    b.wait_text("h1", "the stream page", Duration::from_secs(10), |t| {
        t == "Stream"
    })
    .await;
    // (What a model is told sits in a closed <details>: read its text, not what is shown.)
    let prompt = b
        .script(
            "return document.getElementById('host-prompt').textContent;",
            json!([]),
        )
        .await;
    assert!(
        prompt.as_str().is_some_and(|p| p.contains("Lady Gavel")),
        "{prompt}"
    );
    b.screenshot("web-host-character.png").await;
    drop(b);
    let _ = app.running.terminate(Duration::from_secs(20));
}

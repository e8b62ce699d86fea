//! The admin page of the real binary: its security (every route refused without a session,
//! CSRF, roles, two-factor, throttling, uploads, secrets), its API description, and that it cannot
//! speak for the chain or X. The browser run is `web_browser.rs`.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::admin_page::{WebAppliance, free_port, unix_now};
use serde_json::json;

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

    // The host says what the operator gives it now: checked, shown, audited.
    for bad in [
        json!({"text": "  \n "}),
        json!({"text": "x".repeat(281)}),
        json!({}),
    ] {
        let r = admin.send("POST", "/api/v1/host/say", bad.clone()).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let r = admin
        .send(
            "POST",
            "/api/v1/host/say",
            json!({"text": "Welcome,\u{7} everyone!"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["said"], "Welcome,  everyone!");
    let mut line = String::new();
    for _ in 0..100 {
        let system = admin.get("/api/v1/system").await.json();
        line = system["status"]["stream"]["host"]["line"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if line == "Welcome,  everyone!" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        line, "Welcome,  everyone!",
        "the host shows the operator's line"
    );
    assert_eq!(
        admin
            .send("POST", "/api/v1/host/voice-test", json!({}))
            .await
            .status,
        200
    );

    // The character: checked with the problem named, in force at once, audited.
    let r = admin
        .send(
            "PUT",
            "/api/v1/host/character",
            json!({"toml": "name = \"\"\nbogus = 1"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("bogus"), "{}", r.text());
    let edited = host::DEMO_CHARACTER.replace("name = \"Sotheby\"", "name = \"Gavel Grace\"");
    let r = admin
        .send("PUT", "/api/v1/host/character", json!({"toml": edited}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.json()["system_prompt"]
            .as_str()
            .unwrap()
            .contains("You are Gavel Grace")
    );
    let page = admin.get("/stream").await.text();
    assert!(
        page.contains("Gavel Grace"),
        "the page shows the character in force"
    );
    let preview = admin.send("POST", "/api/v1/host/preview", json!({})).await;
    assert_eq!(preview.status, 200, "{}", preview.text());
    let lines = preview.json()["lines"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.as_str().unwrap().contains("(template): ")),
        "no model configured: templates speak: {lines:?}"
    );
    common::wait_until(
        std::time::Duration::from_secs(20),
        "the host takes the new character",
        || {
            std::fs::read_to_string(&app.running.log)
                .unwrap_or_default()
                .contains("the host's character changed")
        },
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
    // The next step's code (accepted within the clock skew): the one that enabled two-factor
    // is spent.
    let code = web::accounts::totp_code(&secret, "admin", unix_now() + 30).unwrap();
    assert_eq!(
        second
            .login("admin", &app.admin_password, Some(&code))
            .await
            .status,
        200
    );
    // A code signs in once.
    let r = app
        .client()
        .login("admin", &app.admin_password, Some(&code))
        .await;
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (401, json!("totp_reused"))
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
        "host_say",
        "host_voice_test",
        "host_character_saved",
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
    // ...but only from there: someone failing on purpose cannot lock the account out for others.
    let mut elsewhere = common::admin_page::Client::from_address(
        &app.base,
        &app.cert_pem,
        Some("127.0.0.2".parse().unwrap()),
    );
    assert_eq!(
        elsewhere.login("vera", &vera_password, None).await.status,
        200
    );
    // Fifty failures against one account from many addresses block the account everywhere.
    for host in 10..20u8 {
        let mut from = common::admin_page::Client::from_address(
            &app.base,
            &app.cert_pem,
            Some(std::net::IpAddr::from([127, 0, 0, host])),
        );
        for _ in 0..5 {
            assert_eq!(
                from.login("vera", "not her password", None).await.status,
                401
            );
        }
    }
    let mut third = common::admin_page::Client::from_address(
        &app.base,
        &app.cert_pem,
        Some("127.0.0.3".parse().unwrap()),
    );
    assert_eq!(third.login("vera", &vera_password, None).await.status, 429);
    // Names that are no account are not logged (they may be passwords typed in the wrong field).
    assert_eq!(
        elsewhere
            .login("hunter2-typed-as-a-name", "x", None)
            .await
            .status,
        401
    );
    let log = std::fs::read_to_string(&app.running.log).unwrap();
    assert!(
        log.contains("unknown account name"),
        "the failure is logged"
    );
    assert!(
        !log.contains("hunter2-typed-as-a-name"),
        "an unknown name reached the log"
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

//! The admin page of a running appliance, over HTTPS with its own certificate pinned.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::Running;

/// An appliance serving its admin page on a free loopback port.
pub struct WebAppliance {
    pub running: Running,
    pub base: String,
    pub cert_pem: String,
    pub admin_password: String,
    pub data: PathBuf,
}

pub use peers::nginx::free_port;

impl WebAppliance {
    /// Starts `appliance run` with the admin page on; `extra` is appended to the configuration.
    pub fn start(dir: &Path, extra: &str, env: &[(&str, &str)]) -> WebAppliance {
        // For the plain-HTTP clients (chromedriver, the redirect port) reqwest builds itself.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let data = dir.join("data");
        let config = dir.join("appliance.toml");
        let text = format!(
            "data_dir = {:?}\n[stream]\nenabled = false\n{extra}\n",
            data.display().to_string()
        );
        // `extra` may hold its own [web] and [simulation] sections; the defaults come first.
        let text = if extra.contains("[web]") {
            text
        } else {
            format!("{text}\n[web]\nlisten = \"127.0.0.1:0\"\nredirect_listen = \"\"\n")
        };
        std::fs::write(&config, text).unwrap();
        let mut env: Vec<(&str, &str)> = env.to_vec();
        env.push(("SOTHEBAIS_WEB__ENABLED", "true"));
        let running = Running::start(&config, &data, dir.join("appliance.log"), &env);
        let mut base = String::new();
        running.wait_until(Duration::from_secs(30), "the admin page", || {
            let log = std::fs::read_to_string(&running.log).unwrap_or_default();
            if let Some(line) = log.lines().find(|l| l.starts_with("Admin page: https://")) {
                let url = line
                    .trim_start_matches("Admin page: ")
                    .split_whitespace()
                    .next()
                    .unwrap();
                base = url.trim_end_matches('/').to_string();
                true
            } else {
                false
            }
        });
        let log = std::fs::read_to_string(&running.log).unwrap();
        let admin_password = log
            .lines()
            .skip_while(|l| !l.contains("with the password"))
            .map(str::trim)
            .find(|l| l.len() == 20 && l.chars().all(|c| c.is_ascii_alphanumeric()))
            .expect("the first-start password on the console")
            .to_string();
        let cert_pem = std::fs::read_to_string(data.join("web/tls/cert.pem")).unwrap();
        WebAppliance {
            running,
            base,
            cert_pem,
            admin_password,
            data,
        }
    }

    /// A client that trusts only this appliance's certificate.
    pub fn client(&self) -> Client {
        Client::new(&self.base, &self.cert_pem)
    }
}

/// An HTTP client holding one session (cookie and CSRF token).
pub struct Client {
    pub base: String,
    http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
}

/// A reply: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Client {
    pub fn new(base: &str, cert_pem: &str) -> Client {
        Client::from_address(base, cert_pem, None)
    }

    /// A client connecting from `local` (another loopback address stands for another machine).
    pub fn from_address(base: &str, cert_pem: &str, local: Option<std::net::IpAddr>) -> Client {
        let http =
            bench::web::pinned_client_from(cert_pem, Duration::from_secs(30), local).unwrap();
        Client {
            base: base.to_string(),
            http,
            cookie: None,
            csrf: None,
        }
    }

    /// Sends a request with the session cookie and, unless `csrf` is `Some`, the session's
    /// CSRF token (`Some("")`: none, `Some(x)`: that one).
    pub async fn send_raw(
        &self,
        method: &str,
        path: &str,
        body: Option<(Vec<u8>, &str)>,
        csrf: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(
            Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{}{path}", self.base),
        );
        if let Some(c) = &self.cookie {
            req = req.header("cookie", c);
        }
        match csrf {
            Some("") => {}
            Some(token) => req = req.header("x-csrf-token", token),
            None => {
                if let Some(t) = &self.csrf {
                    req = req.header("x-csrf-token", t);
                }
            }
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some((bytes, kind)) = body {
            req = req.header("content-type", kind).body(bytes);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send_raw("GET", path, None, None, &[]).await
    }

    pub async fn send(&self, method: &str, path: &str, body: Value) -> Reply {
        self.send_raw(
            method,
            path,
            Some((body.to_string().into_bytes(), "application/json")),
            None,
            &[],
        )
        .await
    }

    /// Logs in; keeps the cookie and CSRF token on success.
    pub async fn login(&mut self, user: &str, password: &str, totp: Option<&str>) -> Reply {
        let mut body = serde_json::json!({"username": user, "password": password});
        if let Some(code) = totp {
            body["totp"] = code.into();
        }
        let reply = self.send("POST", "/api/v1/login", body).await;
        if reply.status == 200 {
            let cookie = reply
                .headers
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.starts_with("sothebais_session="))
                .expect("a session cookie")
                .to_string();
            for flag in ["HttpOnly", "Secure", "SameSite=Strict"] {
                assert!(cookie.contains(flag), "cookie lacks {flag}: {cookie}");
            }
            self.cookie = Some(cookie.split(';').next().unwrap().to_string());
            self.csrf = reply.json()["csrf"].as_str().map(str::to_string);
        }
        reply
    }
}

/// Seconds since the epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

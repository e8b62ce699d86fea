//! Where alerts go: a webhook in one of four formats, or e-mail over SMTP with TLS.

use std::fmt;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::{Alert, Level};

/// A webhook's body format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `{"key","level","title","text","at","source"}`.
    Json,
    /// A Slack incoming webhook: `{"text": ...}` with mrkdwn.
    Slack,
    /// A Discord webhook: `{"content": ...}` (at most 2,000 characters).
    Discord,
    /// An ntfy topic URL: the text as the body, `Title`, `Priority` and `Tags` headers.
    Ntfy,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            "discord" => Ok(Format::Discord),
            "ntfy" => Ok(Format::Ntfy),
            other => Err(format!(
                "unknown webhook format {other:?}: expected json, slack, discord or ntfy"
            )),
        }
    }
}

/// A webhook. Its URL often carries a token, so only its host is ever shown.
#[derive(Clone)]
pub struct Webhook {
    /// The URL (https, or http to loopback).
    pub url: reqwest::Url,
    /// The body format.
    pub format: Format,
}

/// How the SMTP connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (port 587), which must succeed.
    StartTls,
    /// TLS from the first byte (port 465).
    Implicit,
}

/// E-mail through an SMTP server.
#[derive(Clone)]
pub struct Smtp {
    /// The server's host name (checked against its certificate).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// STARTTLS or implicit TLS; never plain text.
    pub tls: SmtpTls,
    /// User name and password, when the server asks for them.
    pub credentials: Option<(String, String)>,
    /// The sender.
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// Extra trusted root certificates (PEM), for a server with a private CA.
    pub extra_roots_pem: Option<Vec<u8>>,
}

/// One destination.
#[derive(Clone)]
pub enum Sink {
    /// A webhook.
    Webhook(Webhook),
    /// E-mail.
    Email(Smtp),
}

impl fmt::Display for Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sink::Webhook(w) => write!(
                f,
                "webhook ({:?}) at {}",
                w.format,
                w.url.host_str().unwrap_or("?")
            ),
            Sink::Email(s) => write!(f, "e-mail via {}:{}", s.host, s.port),
        }
    }
}

fn priority(level: Level) -> &'static str {
    match level {
        Level::Info => "3",
        Level::Warning => "4",
        Level::Critical => "5",
    }
}

/// Header values must be visible ASCII.
fn ascii(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .take(200)
        .collect()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
    t.push('…');
    t
}

impl Sink {
    /// Sends one alert.
    pub async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        source: &str,
    ) -> Result<(), String> {
        match self {
            Sink::Webhook(w) => w.send(client, alert, source).await,
            Sink::Email(s) => s.send(alert, source).await,
        }
    }
}

impl Webhook {
    async fn send(
        &self,
        client: &reqwest::Client,
        alert: &Alert,
        source: &str,
    ) -> Result<(), String> {
        let mark = match alert.level {
            Level::Info => "ℹ️",
            Level::Warning => "⚠️",
            Level::Critical => "🚨",
        };
        let request = client.post(self.url.clone());
        let request = match self.format {
            Format::Json => request.json(&json!({
                "key": alert.key,
                "level": alert.level.as_str(),
                "title": alert.title,
                "text": alert.text,
                "at": alert.at.to_rfc3339(),
                "source": source,
            })),
            Format::Slack => request.json(&json!({
                "text": format!("{mark} *{}* ({source})\n{}", alert.title, alert.text),
            })),
            Format::Discord => request.json(&json!({
                "content": truncate(&format!("{mark} **{}** ({source})\n{}", alert.title, alert.text), 2000),
                "allowed_mentions": {"parse": []},
            })),
            Format::Ntfy => request
                .header("Title", ascii(&format!("{} ({source})", alert.title)))
                .header("Priority", priority(alert.level))
                .header("Tags", alert.level.as_str())
                .body(alert.text.clone()),
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach it: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("it answered HTTP {}", status.as_u16()))
        }
    }
}

impl Smtp {
    fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
        let mut params = TlsParameters::builder(self.host.clone());
        if let Some(pem) = &self.extra_roots_pem {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| format!("the extra root certificate is not valid PEM: {e}"))?;
            params = params.add_root_certificate(cert);
        }
        let params = params
            .build_rustls()
            .map_err(|e| format!("TLS setup: {e}"))?;
        let tls = match self.tls {
            SmtpTls::StartTls => Tls::Required(params),
            SmtpTls::Implicit => Tls::Wrapper(params),
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(self.host.as_str())
            .port(self.port)
            .tls(tls)
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let Some((user, password)) = &self.credentials {
            b = b.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(b.build())
    }

    /// The message for `alert`.
    pub fn message(&self, alert: &Alert, source: &str) -> Result<Message, String> {
        let from: Mailbox = self
            .from
            .parse()
            .map_err(|e| format!("alerts.email_from {:?}: {e}", self.from))?;
        let mut m = Message::builder().from(from).subject(format!(
            "[{}] {} ({source})",
            alert.level.as_str(),
            alert.title
        ));
        for to in &self.to {
            let to: Mailbox = to
                .parse()
                .map_err(|e| format!("alerts.email_to {to:?}: {e}"))?;
            m = m.to(to);
        }
        m.header(ContentType::TEXT_PLAIN)
            .body(format!(
                "{}\n\n{}\n\nAt {} from {source}.\n",
                alert.title,
                alert.text,
                alert.at.to_rfc3339()
            ))
            .map_err(|e| format!("cannot build the e-mail: {e}"))
    }

    async fn send(&self, alert: &Alert, source: &str) -> Result<(), String> {
        let message = self.message(alert, source)?;
        let transport = self.transport()?;
        transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}

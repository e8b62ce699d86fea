//! HTML building blocks: escaping, the page frame (navigation by role, the CSRF token for the
//! script), tables, and the two static files (the script and the style sheet) compiled in.

use std::fmt::Write as _;

use salvo::http::HeaderValue;
use salvo::prelude::*;

use crate::accounts::Role;
use crate::session::Session;

/// The page script (no framework, no build step).
pub const APP_JS: &str = include_str!("../static/app.js");
/// The style sheet.
pub const APP_CSS: &str = include_str!("../static/app.css");

/// Text made safe for HTML content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The navigation: (path, label, least role).
const NAV: &[(&str, &str, Role)] = &[
    ("/", "Dashboard", Role::Viewer),
    ("/stream", "Stream", Role::Viewer),
    ("/campaigns", "Campaigns", Role::Viewer),
    ("/auctions", "Auctions", Role::Viewer),
    ("/bidders", "Bidders", Role::Viewer),
    ("/search", "Search", Role::Viewer),
    ("/reports", "Reports", Role::Viewer),
    ("/assets", "Assets", Role::Viewer),
    ("/outbox", "Outbox", Role::Viewer),
    ("/audit", "Audit", Role::Viewer),
    ("/system", "System", Role::Viewer),
    ("/settings", "Settings", Role::Admin),
    ("/users", "Users", Role::Admin),
];

/// A whole page for a logged-in user.
pub fn layout(session: &Session, title: &str, body: &str) -> String {
    let mut nav = String::new();
    for (path, label, role) in NAV {
        if session.role >= *role {
            let _ = write!(nav, r#"<a href="{path}">{label}</a>"#);
        }
    }
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="csrf-token" content="{csrf}"><meta name="role" content="{role}">
<title>{title} · SothebAIs</title><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
<body><header><strong>SothebAIs</strong><nav>{nav}</nav><span class="who"><a href="/account">{user}</a> ({role})
<button data-logout>Log out</button></span></header>
<main><h1>{title}</h1><div id="flash" role="status"></div>{body}</main></body></html>"#,
        csrf = esc(&session.csrf),
        role = session.role.as_str(),
        title = esc(title),
        user = esc(&session.user),
    )
}

/// A page without a session (the login).
pub fn bare(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · SothebAIs</title><link rel="stylesheet" href="/static/app.css"><script src="/static/app.js" defer></script></head>
<body><main class="narrow"><h1>{title}</h1><div id="flash" role="status"></div>{body}</main></body></html>"#,
        title = esc(title)
    )
}

/// A page that only says what went wrong.
pub fn error_page(session: &Session, title: &str, message: &str) -> String {
    layout(
        session,
        title,
        &format!(r#"<p class="error">{}</p>"#, esc(message)),
    )
}

/// A table: headers and rows of already-escaped cells.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">Nothing yet.</p>"#.into();
    }
    let mut out = String::from("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// A form the script sends as JSON to `api` with `method`; `confirm` asks first; `reason` adds a
/// required reason field. `fields` is the inner HTML (inputs named like the JSON keys).
pub fn api_form(
    api: &str,
    method: &str,
    label: &str,
    confirm: Option<&str>,
    reason: bool,
    fields: &str,
) -> String {
    let confirm = confirm.map_or(String::new(), |c| format!(r#" data-confirm="{}""#, esc(c)));
    let reason = if reason {
        r#"<input name="reason" placeholder="reason (required)" required maxlength="500">"#
    } else {
        ""
    };
    format!(
        r#"<form class="api" data-api="{api}" data-method="{method}"{confirm}>{fields}{reason}<button>{label}</button></form>"#,
        api = esc(api),
        label = esc(label),
    )
}

/// Serves the script and the style sheet.
#[handler]
pub async fn static_file(req: &mut Request, res: &mut Response) {
    let (body, kind) = match req.param::<String>("file").as_deref() {
        Some("app.js") => (APP_JS, "text/javascript; charset=utf-8"),
        Some("app.css") => (APP_CSS, "text/css; charset=utf-8"),
        _ => {
            res.status_code(StatusCode::NOT_FOUND);
            return;
        }
    };
    res.headers_mut()
        .insert("content-type", HeaderValue::from_static(kind));
    res.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    let _ = res.write_body(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert!(table(&["a"], &[]).contains("Nothing"));
        assert!(api_form("/api/v1/x", "POST", "Go", Some("Sure?"), true, "").contains("required"));
    }
}

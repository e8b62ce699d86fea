//! HTML building blocks, as maud templates (every value escaped unless a template says
//! otherwise): the page frame (navigation by role, the CSRF token for the script), tables, forms
//! for the API, and the two static files (the script and the style sheet) compiled in.

use maud::{DOCTYPE, Markup, html};
use salvo::http::HeaderValue;
use salvo::prelude::*;

use crate::accounts::Role;
use crate::session::Session;

/// The page script (no framework, no build step).
pub const APP_JS: &str = include_str!("../static/app.js");
/// The style sheet.
pub const APP_CSS: &str = include_str!("../static/app.css");

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

/// The document head both frames share.
fn head(title: &str, session: Option<&Session>) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        @if let Some(s) = session {
            meta name="csrf-token" content=(s.csrf);
            meta name="role" content=(s.role.as_str());
        }
        title { (title) " · SothebAIs" }
        link rel="stylesheet" href="/static/app.css";
        script src="/static/app.js" defer {}
    }
}

/// A whole page for a logged-in user.
pub fn layout(session: &Session, title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, Some(session))) }
            body {
                header {
                    strong { "SothebAIs" }
                    nav {
                        @for (path, label, role) in NAV {
                            @if session.role >= *role { a href=(path) { (label) } }
                        }
                    }
                    span.who {
                        a href="/account" { (session.user) }
                        " (" (session.role.as_str()) ")"
                        button data-logout { "Log out" }
                    }
                }
                main {
                    h1 { (title) }
                    div #flash role="status" {}
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// A page without a session (the login).
pub fn bare(title: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title, None)) }
            body {
                main.narrow {
                    h1 { (title) }
                    div #flash role="status" {}
                    (body)
                }
            }
        }
    }
    .into_string()
}

/// A page that only says what went wrong.
pub fn error_page(session: &Session, title: &str, message: &str) -> String {
    layout(session, title, html! { p.error { (message) } })
}

/// A table: headers and rows of cells.
pub fn table(headers: &[&str], rows: &[Vec<Markup>]) -> Markup {
    html! {
        @if rows.is_empty() {
            p.muted { "Nothing yet." }
        } @else {
            table {
                thead { tr { @for h in headers { th { (h) } } } }
                tbody {
                    @for row in rows {
                        tr { @for cell in row { td { (cell) } } }
                    }
                }
            }
        }
    }
}

/// A form the script sends as JSON to `api` with `method`; `confirm` asks first; `reason` adds a
/// required reason field. `fields` are the inputs, named like the JSON keys.
pub fn api_form(
    api: &str,
    method: &str,
    label: &str,
    confirm: Option<&str>,
    reason: bool,
    fields: Markup,
) -> Markup {
    html! {
        form.api data-api=(api) data-method=(method) data-confirm=[confirm] {
            (fields)
            @if reason {
                input name="reason" placeholder="reason (required)" required maxlength="500";
            }
            button { (label) }
        }
    }
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
    fn values_are_escaped_and_forms_ask_for_reasons() {
        let cell = html! { (r#"<a href="x">'&'</a>"#) };
        assert_eq!(
            cell.into_string(),
            "&lt;a href=&quot;x&quot;&gt;'&amp;'&lt;/a&gt;"
        );
        assert!(table(&["a"], &[]).into_string().contains("Nothing"));
        let form = api_form(
            "/api/v1/x?a=1&b=\"",
            "POST",
            "Go",
            Some("Sure?"),
            true,
            html! {},
        );
        let form = form.into_string();
        assert!(form.contains("required"), "{form}");
        assert!(
            form.contains(r#"data-api="/api/v1/x?a=1&amp;b=&quot;""#),
            "{form}"
        );
        assert!(form.contains(r#"data-confirm="Sure?""#), "{form}");
        let plain = api_form("/api/v1/y", "POST", "Go", None, false, html! {}).into_string();
        assert!(
            !plain.contains("data-confirm") && !plain.contains("reason"),
            "{plain}"
        );
    }
}

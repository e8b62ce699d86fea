//! The server-rendered pages. Each reads one store snapshot through [`crate::model`] (the same
//! structures the API returns) and renders plain HTML; forms are sent by the page script to the
//! JSON API, so the page can do nothing the API does not allow.

use salvo::prelude::*;
use serde_json::Value;
use store::Reader;

use maud::{Markup, html};

use crate::html::{api_form, bare, error_page, layout, table};
use crate::session::Session;
use crate::{Guard, Role, app, charts, model, session};

mod campaign;
mod records;
mod stream;
mod system;

/// Every page behind its role.
pub fn router() -> Router {
    Router::new()
        .push(
            Router::new()
                .hoop(Guard::page(Role::Viewer))
                .get(campaign::dashboard)
                .push(Router::with_path("stream").get(stream::stream))
                .push(Router::with_path("campaigns").get(campaign::campaigns))
                .push(Router::with_path("auctions").get(campaign::auctions))
                .push(Router::with_path("auctions/{id}").get(campaign::auction))
                .push(Router::with_path("bidders").get(records::bidders))
                .push(Router::with_path("bidders/{id}").get(records::bidder))
                .push(Router::with_path("search").get(records::search))
                .push(Router::with_path("reports").get(records::reports))
                .push(Router::with_path("assets").get(stream::assets))
                .push(Router::with_path("outbox").get(records::outbox))
                .push(Router::with_path("audit").get(records::audit))
                .push(Router::with_path("account").get(system::account))
                .push(Router::with_path("system").get(system::system)),
        )
        .push(
            Router::new()
                .hoop(Guard::page(Role::Admin))
                .push(Router::with_path("settings").get(system::settings))
                .push(Router::with_path("users").get(system::users)),
        )
}

fn who(depot: &Depot) -> Session {
    session(depot).unwrap_or_else(|| unreachable!("the guard sets the session"))
}

/// Renders `f(snapshot)` in the frame, or the error.
fn page(
    depot: &Depot,
    res: &mut Response,
    title: &str,
    f: impl FnOnce(&Reader, &Session) -> model::Result<Markup>,
) {
    let app = app(depot);
    let s = who(depot);
    let body = app
        .store
        .read()
        .map_err(|e| e.to_string())
        .and_then(|r| f(&r, &s));
    match body {
        Ok(body) => res.render(Text::Html(layout(&s, title, body))),
        Err(e) => {
            res.status_code(StatusCode::INTERNAL_SERVER_ERROR);
            res.render(Text::Html(error_page(
                &s,
                title,
                &format!("The database could not be read: {e}"),
            )));
        }
    }
}

fn link(href: &str, text: &str) -> Markup {
    html! { a href=(href) { (text) } }
}

/// One table cell's text (escaped like every value).
fn cell(v: impl maud::Render) -> Markup {
    html! { (v) }
}

fn can_operate(s: &Session) -> bool {
    s.role >= Role::Operator
}

const BID_HEADERS: &[&str] = &["#", "Bidder", "ETH", "Status", "Reason", "At", "Source"];

/// The login page.
#[handler]
pub async fn login(res: &mut Response) {
    res.render(Text::Html(bare(
        "Log in",
        html! {
            form #login {
                label { "Name " input name="username" autocomplete="username" required autofocus; }
                label {
                    "Password "
                    input type="password" name="password" autocomplete="current-password" required;
                }
                label #totp-row hidden {
                    "Two-factor code "
                    input name="totp" inputmode="numeric" autocomplete="one-time-code";
                }
                button { "Log in" }
            }
        },
    )));
}

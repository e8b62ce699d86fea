//! The account, the box's health, settings and users.

use super::*;

/// One's own account: password and two-factor.
#[handler]
pub(super) async fn account(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let totp = app.has_totp(&s.user);
    page(depot, res, "Account", |_, _| {
        let code = |placeholder: &str| {
            html! {
                input name="code" inputmode="numeric" autocomplete="one-time-code" placeholder=(placeholder) required aria-label="code";
            }
        };
        Ok(html! {
            h2 { "Password" }
            (api_form(
                "/api/v1/me/password",
                "POST",
                "Change password",
                None,
                false,
                html! {
                    input type="password" name="current" placeholder="current password" autocomplete="current-password" required aria-label="current password";
                    input type="password" name="new" placeholder="new password (12+)" autocomplete="new-password" minlength="12" required aria-label="new password";
                },
            ))
            h2 { "Two-factor sign-in" }
            @if totp {
                p { "Two-factor sign-in is " strong { "on" } "." }
                (api_form(
                    "/api/v1/me/totp/disable",
                    "POST",
                    "Turn two-factor off",
                    Some("Turn two-factor sign-in off?"),
                    false,
                    code("current code"),
                ))
            } @else {
                p { "Two-factor sign-in is " strong { "off" } "." }
                button #totp-setup { "Set up two-factor" }
                div #totp-enrol hidden {
                    p { "Scan this with an authenticator app, then enter the code it shows." }
                    div #totp-qr {}
                    p.muted { "Or enter the key: " code #totp-secret {} }
                    (api_form("/api/v1/me/totp/enable", "POST", "Turn two-factor on", None, false, code("6-digit code")))
                }
            }
        })
    });
}

/// Health of each part, resource use, recent log lines.
#[handler]
pub(super) async fn system(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let status = app.backend.status();
    let updates = app.backend.update(crate::UpdateAction::Status).await;
    let admin = who(depot).role >= Role::Admin;
    let log = app.backend.log_lines(200);
    let process = crate::live::process_stats();
    let sessions = app.sessions.count();
    page(depot, res, "System", |_, _| {
        let alerts = model::alerts(&status);
        Ok(html! {
            @for a in &alerts {
                p class=(format!("alert {}", a.level)) { (a.message) }
            }
            h2 { "Resources" }
            p {
                "CPU time " (format!("{:.1}", process["cpu_seconds"].as_f64().unwrap_or(0.0))) " s · memory "
                (process["rss_bytes"].as_u64().unwrap_or(0) >> 20) " MiB · threads "
                (process["threads"].as_u64().unwrap_or(0)) " · admin sessions " (sessions)
            }
            p { a href="/metrics" { "Prometheus metrics" } " · " a href="/api/v1/openapi.json" { "API description" } }
            h2 { "Health of each part" }
            (part_cards(&status))
            h2 { "Tasks" }
            (task_table(&status))
            h2 { "Alerts to the operator" }
            (alert_summary(&status))
            details {
                summary { "Every counter (the status as JSON)" }
                pre { (serde_json::to_string_pretty(&status).unwrap_or_default()) }
            }
            h2 { "Software updates" }
            @match &updates {
                Ok(text) => pre #update-status { (text) },
                Err(e) => p.muted #update-status { (e) },
            }
            @if admin && updates.is_ok() {
                p.muted { "A new version installs beside this one and must prove healthy within a minute, or this one comes back. Not while an auction is open, unless forced." }
                (api_form("/api/v1/update/check", "POST", "Check for an update", None, false, html! {}))
                (api_form("/api/v1/update/apply", "POST", "Install the newest release", Some("Install the newest release and restart into it?"), false, html! {
                    label { input type="checkbox" name="force" data-type="bool"; " even while an auction is open" }
                }))
                (api_form("/api/v1/update/rollback", "POST", "Go back to the previous version", Some("Go back to the previous version and restart?"), false, html! {}))
            }
            h2 { "Recent log" }
            pre.log { (log.join("\n")) }
        })
    });
}

/// One card per part: its state, since when, why and what to do.
fn part_cards(status: &Value) -> Markup {
    let parts: Vec<&Value> = status["connections"]["parts"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    html! {
        @if parts.is_empty() {
            p.muted { "Not judged yet (the first check runs within five seconds of start)." }
        }
        div.cards {
            @for p in parts {
                @let state = p["state"].as_str().unwrap_or("?");
                section class=(format!("card part {state}")) data-part=(p["part"].as_str().unwrap_or("")) {
                    h3 { (p["part"].as_str().unwrap_or("?")) " " span.state { (state) } }
                    p.muted { "since " (p["since"].as_str().unwrap_or("?")) }
                    @if let Some(why) = p["why"].as_str().filter(|w| !w.is_empty()) {
                        p { (why) }
                    }
                    @if let Some(action) = p["action"].as_str().filter(|w| !w.is_empty()) {
                        p { strong { "What to do: " } (action) }
                    }
                    @if p["restarts"].as_u64().unwrap_or(0) > 0 {
                        p.muted { "restarted " (p["restarts"]) " times; last failure: " (p["last_failure"].as_str().unwrap_or("")) }
                    }
                }
            }
        }
    }
}

/// The supervised tasks: running, restarts, last failure.
fn task_table(status: &Value) -> Markup {
    let tasks: Vec<&Value> = status["tasks"].as_array().into_iter().flatten().collect();
    html! {
        table.tasks {
            thead { tr { th { "task" } th { "running" } th { "restarts" } th { "last failure" } } }
            tbody {
                @for t in tasks {
                    tr {
                        td { code { (t["task"].as_str().unwrap_or("?")) } }
                        td { @if t["running"] == true { "yes" } @else { strong.error { "restarting" } } }
                        td { (t["restarts"].as_u64().unwrap_or(0)) }
                        td {
                            @if let Some(f) = t["last_failure"].as_str() {
                                (f) " (" (t["last_failure_at"].as_str().unwrap_or("")) ")"
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where alerts go and what was sent.
fn alert_summary(status: &Value) -> Markup {
    let a = &status["alerts"];
    html! {
        @if a["destinations"].as_u64().unwrap_or(0) == 0 {
            p.alert.warning { "No alert destination is configured: nobody hears about trouble unless they look at this page. Set alerts.webhooks or alerts.email_to on the Settings page." }
        } @else {
            p {
                (a["destinations"]) " destination(s) · sent " (a["sent"]) " · held back by the rate limit "
                (a["suppressed"]) " · failed " (a["failed"])
            }
            @if let Some(e) = a["last_error"].as_str().filter(|e| !e.is_empty()) {
                p.alert.error { "Last delivery failure: " (e) }
            }
        }
    }
}

/// Settings (admin): secrets are write-only.
#[handler]
pub(super) async fn settings(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let current = app.backend.settings();
    page(depot, res, "Settings", |_, _| {
        let entries: Vec<&Value> = current["settings"]
            .as_array()
            .into_iter()
            .flatten()
            .collect();
        let fields = html! {
            @for s in &entries {
                @let key = s["key"].as_str().unwrap_or("");
                label.setting {
                    code { (key) }
                    " "
                    @if s["secret"] == true {
                        input type="password" name=(key) data-changed-only autocomplete="off"
                            placeholder=(if s["set"] == true { "set (type to replace)" } else { "not set" });
                    } @else {
                        @let (value, ty) = match &s["value"] {
                            Value::String(v) => (v.clone(), ""),
                            Value::Bool(b) => (b.to_string(), "bool"),
                            Value::Number(n) => (n.to_string(), "number"),
                            other => (other.to_string(), "json"),
                        };
                        input name=(key) data-changed-only data-type=(ty) value=(value) data-initial=(value);
                    }
                }
            }
        };
        Ok(html! {
            p.muted {
                "Changes are saved to " code { (current["file"].as_str().unwrap_or("")) } " and apply at the next start."
            }
            (api_form("/api/v1/settings", "PUT", "Save settings", Some("Save these settings?"), false, fields))
        })
    });
}

/// Users (admin).
#[handler]
pub(super) async fn users(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let list = app.account_list();
    page(depot, res, "Users", |_, _| {
        let roles = html! {
            select name="role" aria-label="role" { option { "viewer" } option { "operator" } option { "admin" } }
        };
        let rows: Vec<Vec<Markup>> = list
            .users
            .iter()
            .map(|u| {
                let api = format!("/api/v1/users/{}", u.name);
                vec![
                    cell(&u.name),
                    cell(u.role.as_str()),
                    cell(if u.totp.is_some() { "on" } else { "off" }),
                    cell(if u.disabled { "disabled" } else { "active" }),
                    html! {
                        (api_form(&api, "PUT", "Set role", Some(&format!("Change the role of {}?", u.name)), false, roles.clone()))
                        (api_form(
                            &api,
                            "PUT",
                            if u.disabled { "Enable" } else { "Disable" },
                            Some("Change this account?"),
                            false,
                            html! { input type="hidden" name="disabled" data-type="bool" value=(!u.disabled); },
                        ))
                        (api_form(
                            &api,
                            "PUT",
                            "Reset password",
                            Some("Make a new password for this account?"),
                            false,
                            html! { input type="hidden" name="reset_password" data-type="bool" value="true"; },
                        ))
                        (api_form(&api, "DELETE", "Delete", Some(&format!("Delete {}?", u.name)), false, html! {}))
                    },
                ]
            })
            .collect();
        Ok(html! {
            (table(&["Name", "Role", "Two-factor", "State", ""], &rows))
            h2 { "New account" }
            (api_form(
                "/api/v1/users",
                "POST",
                "Create",
                None,
                false,
                html! { input name="name" placeholder="name" required aria-label="name"; (roles) },
            ))
        })
    });
}

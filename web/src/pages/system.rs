//! The account, the box's health, settings and users.

use super::*;

/// One's own account: password and two-factor.
#[handler]
pub(super) async fn account(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let totp = app.has_totp(&s.user);
    page(depot, res, "Account", |_, _| {
        let two_factor = if totp {
            format!(
                "<p>Two-factor sign-in is <strong>on</strong>.</p>{}",
                api_form(
                    "/api/v1/me/totp/disable",
                    "POST",
                    "Turn two-factor off",
                    Some("Turn two-factor sign-in off?"),
                    false,
                    r#"<input name="code" inputmode="numeric" autocomplete="one-time-code" placeholder="current code" required aria-label="code">"#
                )
            )
        } else {
            format!(
                r#"<p>Two-factor sign-in is <strong>off</strong>.</p><button id="totp-setup">Set up two-factor</button><div id="totp-enrol" hidden><p>Scan this with an authenticator app, then enter the code it shows.</p><div id="totp-qr"></div><p class="muted">Or enter the key: <code id="totp-secret"></code></p>{}</div>"#,
                api_form(
                    "/api/v1/me/totp/enable",
                    "POST",
                    "Turn two-factor on",
                    None,
                    false,
                    r#"<input name="code" inputmode="numeric" autocomplete="one-time-code" placeholder="6-digit code" required aria-label="code">"#
                )
            )
        };
        Ok(format!(
            "<h2>Password</h2>{}<h2>Two-factor sign-in</h2>{two_factor}",
            api_form(
                "/api/v1/me/password",
                "POST",
                "Change password",
                None,
                false,
                r#"<input type="password" name="current" placeholder="current password" autocomplete="current-password" required aria-label="current password"><input type="password" name="new" placeholder="new password (12+)" autocomplete="new-password" minlength="12" required aria-label="new password">"#
            )
        ))
    });
}

/// Health of each part, resource use, recent log lines.
#[handler]
pub(super) async fn system(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let status = app.backend.status();
    let log = app.backend.log_lines(200);
    let process = crate::live::process_stats();
    let sessions = app.sessions.count();
    page(depot, res, "System", |_, _| {
        let alerts = model::alerts(&status);
        let alert_html: String = alerts
            .iter()
            .map(|a| {
                format!(
                    r#"<p class="alert {}">{}</p>"#,
                    esc(&a.level),
                    esc(&a.message)
                )
            })
            .collect();
        Ok(format!(
            r#"{alert_html}<h2>Resources</h2><p>CPU time {:.1} s · memory {} MiB · threads {} · admin sessions {sessions}</p>
<p><a href="/metrics">Prometheus metrics</a> · <a href="/api/v1/openapi.json">API description</a></p>
<h2>Health of each part</h2><pre>{}</pre><h2>Recent log</h2><pre class="log">{}</pre>"#,
            process["cpu_seconds"].as_f64().unwrap_or(0.0),
            process["rss_bytes"].as_u64().unwrap_or(0) >> 20,
            process["threads"],
            esc(&serde_json::to_string_pretty(&status).unwrap_or_default()),
            esc(&log.join("\n")),
        ))
    });
}

/// Settings (admin): secrets are write-only.
#[handler]
pub(super) async fn settings(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let current = app.backend.settings();
    page(depot, res, "Settings", |_, _| {
        let mut fields = String::new();
        for s in current["settings"].as_array().into_iter().flatten() {
            let key = s["key"].as_str().unwrap_or("");
            let input = if s["secret"] == true {
                format!(
                    r#"<input type="password" name="{k}" data-changed-only autocomplete="off" placeholder="{}">"#,
                    if s["set"] == true {
                        "set (type to replace)"
                    } else {
                        "not set"
                    },
                    k = esc(key)
                )
            } else {
                let (value, ty) = match &s["value"] {
                    Value::String(v) => (v.clone(), ""),
                    Value::Bool(b) => (b.to_string(), "bool"),
                    Value::Number(n) => (n.to_string(), "number"),
                    other => (other.to_string(), "json"),
                };
                format!(
                    r#"<input name="{k}" data-changed-only data-type="{ty}" value="{v}" data-initial="{v}">"#,
                    k = esc(key),
                    v = esc(&value)
                )
            };
            fields.push_str(&format!(
                r#"<label class="setting"><code>{}</code> {input}</label>"#,
                esc(key)
            ));
        }
        Ok(format!(
            r#"<p class="muted">Changes are saved to <code>{}</code> and apply at the next start.</p>{}"#,
            esc(current["file"].as_str().unwrap_or("")),
            api_form(
                "/api/v1/settings",
                "PUT",
                "Save settings",
                Some("Save these settings?"),
                false,
                &fields
            )
        ))
    });
}

/// Users (admin).
#[handler]
pub(super) async fn users(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let list = app.account_list();
    page(depot, res, "Users", |_, _| {
        let rows: Vec<Vec<String>> = list
            .users
            .iter()
            .map(|u| {
                let api = format!("/api/v1/users/{}", u.name);
                vec![
                    esc(&u.name),
                    u.role.as_str().into(),
                    if u.totp.is_some() { "on".into() } else { "off".into() },
                    if u.disabled { "disabled".into() } else { "active".into() },
                    format!(
                        "{}{}{}{}",
                        api_form(&api, "PUT", "Set role", Some(&format!("Change the role of {}?", u.name)), false, r#"<select name="role" aria-label="role"><option>viewer</option><option>operator</option><option>admin</option></select>"#),
                        api_form(&api, "PUT", if u.disabled { "Enable" } else { "Disable" }, Some("Change this account?"), false, &format!(r#"<input type="hidden" name="disabled" data-type="bool" value="{}">"#, !u.disabled)),
                        api_form(&api, "PUT", "Reset password", Some("Make a new password for this account?"), false, r#"<input type="hidden" name="reset_password" data-type="bool" value="true">"#),
                        api_form(&api, "DELETE", "Delete", Some(&format!("Delete {}?", u.name)), false, ""),
                    ),
                ]
            })
            .collect();
        Ok(format!(
            "{}<h2>New account</h2>{}",
            table(&["Name", "Role", "Two-factor", "State", ""], &rows),
            api_form(
                "/api/v1/users",
                "POST",
                "Create",
                None,
                false,
                r#"<input name="name" placeholder="name" required aria-label="name"><select name="role" aria-label="role"><option>viewer</option><option>operator</option><option>admin</option></select>"#
            ),
        ))
    });
}

//! The box: system health, settings and the admin page's users.

use super::*;

/// Health of each part, resource use, recent log lines.
#[endpoint(tags("system"))]
pub(super) async fn system(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let status = app.backend.status();
    res.render(Json(json!({
        "status": status,
        "sessions": app.sessions.count(),
        "search_indexed_through": app.search.indexed_through().unwrap_or(0),
        "process": crate::live::process_stats(),
        "log": app.backend.log_lines(200),
    })));
}

/// The settings; secrets only as set or not.
#[endpoint(tags("settings"))]
pub(super) async fn settings(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    res.render(Json(app.backend.settings()));
}

/// Saves settings (`{"section.key": value}`); they apply at the next start.
#[endpoint(tags("settings"))]
pub(super) async fn save_settings(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let changes: Value = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let Some(map) = changes.as_object().filter(|m| !m.is_empty()) else {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send {\"section.key\": value, ...}",
        );
    };
    let keys: Vec<String> = map.keys().cloned().collect();
    match app.backend.save_settings(&changes) {
        Ok(now) => {
            let s = who(depot);
            // The keys changed, never their values (some are secrets).
            record(&app, &s, req, "settings_saved", &keys.join(", ")).await;
            res.render(Json(now));
        }
        Err(e) => refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e),
    }
}

/// Every account.
#[endpoint(tags("users"))]
pub(super) async fn users(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let list: Vec<AccountView> = app
        .account_list()
        .users
        .iter()
        .map(AccountView::from)
        .collect();
    res.render(Json(list));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct NewUser {
    /// Login name.
    name: String,
    /// `admin`, `operator` or `viewer`.
    role: Role,
    /// A password (12+ characters); none: one is made and returned once.
    #[serde(default)]
    password: Option<String>,
}

/// Creates an account; returns its password when one was made.
#[endpoint(tags("users"))]
pub(super) async fn create_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let u: NewUser = match body(req).await {
        Ok(u) => u,
        Err(e) => return fail(res, e),
    };
    if let Err(e) = accounts::check_name(&u.name) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    let mut list = app.account_list();
    if list.get(&u.name).is_some() {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "conflict",
            format!("{} exists", u.name),
        );
    }
    let made = u.password.is_none();
    let password = u.password.unwrap_or_else(accounts::random_password);
    if let Err(e) = list.set_password(&u.name, &password, u.role) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "user_created",
        &format!("{} ({})", u.name, u.role.as_str()),
    )
    .await;
    res.status_code(StatusCode::CREATED);
    res.render(Json(
        json!({"name": u.name, "role": u.role, "password": made.then_some(password)}),
    ));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct EditUser {
    /// New role.
    #[serde(default)]
    role: Option<Role>,
    /// Block or unblock logins.
    #[serde(default)]
    disabled: Option<bool>,
    /// Make a new password (returned once).
    #[serde(default)]
    reset_password: bool,
    /// Turn two-factor off (a lost phone).
    #[serde(default)]
    reset_totp: bool,
}

/// Changes an account; its sessions end. The last admin stays an enabled admin.
#[endpoint(tags("users"), parameters(("name" = String, Path, description = "account name")))]
pub(super) async fn edit_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let e: EditUser = match body(req).await {
        Ok(e) => e,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(a) = list.get_mut(&name) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {name}"),
        );
    };
    let mut changes = Vec::new();
    if let Some(role) = e.role {
        a.role = role;
        changes.push(format!("role {}", role.as_str()));
    }
    if let Some(d) = e.disabled {
        a.disabled = d;
        changes.push(if d {
            "disabled".into()
        } else {
            "enabled".into()
        });
    }
    if e.reset_totp {
        a.totp = None;
        a.totp_pending = None;
        changes.push("two-factor reset".into());
    }
    let role = a.role;
    let mut password = None;
    if e.reset_password {
        let p = accounts::random_password();
        if let Err(e) = list.set_password(&name, &p, role) {
            return refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "internal", e);
        }
        password = Some(p);
        changes.push("password reset".into());
    }
    if list.admins() == 0 {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "invalid_state",
            "keep at least one enabled admin",
        );
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&name);
    let s = who(depot);
    record(
        &app,
        &s,
        req,
        "user_changed",
        &format!("{name}: {}", changes.join(", ")),
    )
    .await;
    res.render(Json(
        json!({"name": name, "role": role, "password": password}),
    ));
}

/// Removes an account (not the last admin) and ends its sessions.
#[endpoint(tags("users"), parameters(("name" = String, Path, description = "account name")))]
pub(super) async fn delete_user(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let name = req.param::<String>("name").unwrap_or_default();
    let mut list = app.account_list();
    let before = list.users.len();
    list.users.retain(|u| u.name != name);
    if list.users.len() == before {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no account {name}"),
        );
    }
    if list.admins() == 0 {
        return refuse(
            res,
            StatusCode::CONFLICT,
            "invalid_state",
            "keep at least one enabled admin",
        );
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&name);
    let s = who(depot);
    record(&app, &s, req, "user_deleted", &name).await;
    res.render(Json(json!({"ok": true})));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        #[derive(Serialize)]
        struct R {
            a: String,
            b: u32,
        }
        let out = csv(&[
            R {
                a: "x,\"y\"".into(),
                b: 1,
            },
            R {
                a: "=HYPERLINK(\"evil\")".into(),
                b: 2,
            },
            R {
                a: "-0.5".into(),
                b: 3,
            },
        ]);
        assert_eq!(
            out,
            "a,b\r\n\"x,\"\"y\"\"\",1\r\n\"'=HYPERLINK(\"\"evil\"\")\",2\r\n-0.5,3\r\n"
        );
        assert_eq!(status_of("not_found"), StatusCode::NOT_FOUND);
        assert_eq!(status_of("invalid_state"), StatusCode::CONFLICT);
    }
}

/// Self-update: the slots, a pending update, bad versions and the history.
#[endpoint(tags("system"))]
pub(super) async fn update_status(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.backend.update(UpdateAction::Status).await {
        Ok(text) => res.render(Json(json!({"status": text}))),
        Err(e) => refuse(res, StatusCode::CONFLICT, "invalid_state", e),
    }
}

/// Whether a newer release is offered, with its notes.
#[endpoint(tags("system"))]
pub(super) async fn update_check(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    match app.backend.update(UpdateAction::Check).await {
        Ok(text) => res.render(Json(json!({"lines": text.lines().collect::<Vec<_>>()}))),
        Err(e) => refuse(res, StatusCode::BAD_GATEWAY, "unavailable", e),
    }
}

/// What applying an update may say.
#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct ApplyBody {
    /// Apply even while an auction is open.
    #[serde(default)]
    force: bool,
}

/// Installs the newest release into the other slot and switches to it (refused while an
/// auction is open unless forced); audited.
#[endpoint(tags("system"))]
pub(super) async fn update_apply(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let b: ApplyBody = match body(req).await {
        Ok(b) => b,
        Err(e) => return fail(res, e),
    };
    changed(
        UpdateAction::Apply { force: b.force },
        "update_apply",
        req,
        depot,
        res,
    )
    .await;
}

/// Goes back to the version in the other slot; audited.
#[endpoint(tags("system"))]
pub(super) async fn update_rollback(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    changed(UpdateAction::Rollback, "update_rollback", req, depot, res).await;
}

/// Carries out an update action that changes the box: audited as `audit`, its report in lines.
async fn changed(
    action: UpdateAction,
    audit: &str,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    let app = app(depot);
    match app.backend.update(action).await {
        Ok(text) => {
            record(&app, &who(depot), req, audit, &text).await;
            res.render(Json(json!({"lines": text.lines().collect::<Vec<_>>()})));
        }
        Err(e) => refuse(res, StatusCode::CONFLICT, "invalid_state", e),
    }
}

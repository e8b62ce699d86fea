//! Logging in and out, and the account itself: its password and two-factor sign-in.

use super::*;

/// Credentials.
#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct Login {
    /// Account name.
    username: String,
    /// Password.
    password: String,
    /// The authenticator's 6-digit code, when two-factor is on.
    #[serde(default)]
    totp: Option<String>,
}

/// A hash to verify against when the account does not exist, so both cases take as long.
pub(super) fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        accounts::hash_password("decoy password for unknown accounts").unwrap_or_default()
    })
}

/// Logs in: sets the session cookie and returns the CSRF token. Five failures from one address in
/// 15 minutes block that address for a while (not the account: someone else on the LAN cannot
/// lock the admin out); fifty against one account from all addresses block the account. A
/// two-factor code signs in once.
#[endpoint(tags("account"))]
pub(super) async fn login(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let l: Login = match body(req).await {
        Ok(l) => l,
        Err(e) => return fail(res, e),
    };
    let ip = client_ip(req);
    let by_address = [format!("ip:{ip}")];
    let by_account = [format!("user:{}", l.username.to_lowercase())];
    let blocked = app
        .throttle
        .blocked(&by_address)
        .or_else(|| app.account_throttle.blocked(&by_account));
    let failed = || {
        app.throttle.fail(&by_address);
        app.account_throttle.fail(&by_account);
    };
    if let Some(wait) = blocked {
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            res.headers_mut().insert("retry-after", v);
        }
        return refuse(
            res,
            StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            format!(
                "too many failed logins; try again in {} s",
                wait.as_secs().max(1)
            ),
        );
    }
    let account = app.account_list().get(&l.username).cloned();
    let hash = account
        .as_ref()
        .map_or_else(|| decoy_hash().to_string(), |a| a.hash.clone());
    let password = l.password.clone();
    let ok = tokio::task::spawn_blocking(move || accounts::verify_password(&hash, &password))
        .await
        .unwrap_or(false);
    // A name that is no account may be a password typed in the wrong field: never logged.
    let known = account.as_ref().map(|a| a.name.clone());
    let Some(account) = account.filter(|a| ok && !a.disabled) else {
        failed();
        match &known {
            Some(name) => tracing::warn!(user = %name, %ip, "failed login"),
            None => tracing::warn!(%ip, "failed login for an unknown account name (not logged)"),
        }
        return refuse(
            res,
            StatusCode::UNAUTHORIZED,
            "bad_credentials",
            "wrong name or password",
        );
    };
    if let Some(secret) = &account.totp {
        match l.totp.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
            None => {
                return refuse(
                    res,
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "enter the code from your authenticator",
                );
            }
            Some(code) => {
                let refused = if !accounts::check_totp(secret, &account.name, code, unix_now()) {
                    Some(("bad_totp", "wrong two-factor code"))
                } else if !app.used_codes.first_use(&account.name, code) {
                    Some((
                        "totp_reused",
                        "that code was used already; wait for the next one",
                    ))
                } else {
                    None
                };
                if let Some((why, message)) = refused {
                    failed();
                    tracing::warn!(user = %account.name, %ip, why, "failed login (two-factor code)");
                    return refuse(res, StatusCode::UNAUTHORIZED, why, message);
                }
            }
        }
    }
    app.account_throttle.clear(&by_account[0]);
    let (token, s) = app.sessions.create(&account.name, account.role, &ip);
    let mut cookie = Cookie::new(COOKIE, token);
    cookie.set_http_only(true);
    cookie.set_secure(true);
    cookie.set_same_site(SameSite::Strict);
    cookie.set_path("/");
    res.add_cookie(cookie);
    record(&app, &s, req, "login", "").await;
    res.render(Json(
        json!({"user": s.user, "role": s.role, "csrf": s.csrf}),
    ));
}

/// Ends the session.
#[endpoint(tags("account"))]
pub(super) async fn logout(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    if let Some(c) = req.cookie(COOKIE) {
        app.sessions.remove(c.value());
    }
    let mut gone = Cookie::new(COOKIE, "");
    gone.set_path("/");
    gone.set_http_only(true);
    gone.set_secure(true);
    gone.set_same_site(SameSite::Strict);
    gone.make_removal();
    res.add_cookie(gone);
    res.render(Json(json!({"ok": true})));
}

/// Who is logged in.
#[endpoint(tags("account"))]
pub(super) async fn me(depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let totp = app.has_totp(&s.user);
    res.render(Json(json!({"user": s.user, "role": s.role, "totp": totp})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct PasswordChange {
    /// The password now.
    current: String,
    /// The new one (12 characters or more).
    new: String,
}

/// Changes one's own password (other sessions of the account end).
#[endpoint(tags("account"))]
pub(super) async fn change_password(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let p: PasswordChange = match body(req).await {
        Ok(p) => p,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(account) = list.get(&s.user).cloned() else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    let (hash, current) = (account.hash.clone(), p.current.clone());
    if !tokio::task::spawn_blocking(move || accounts::verify_password(&hash, &current))
        .await
        .unwrap_or(false)
    {
        return refuse(
            res,
            StatusCode::FORBIDDEN,
            "bad_credentials",
            "the current password is wrong",
        );
    }
    if let Err(e) = list.set_password(&s.user, &p.new, account.role) {
        return refuse(res, StatusCode::BAD_REQUEST, "invalid_request", e);
    }
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    app.sessions.remove_user(&s.user);
    record(&app, &s, req, "password_changed", &s.user).await;
    res.render(Json(json!({"ok": true, "logged_out": true})));
}

/// Starts two-factor enrolment: a new secret, its otpauth URL and QR code (SVG). It takes
/// effect once a code from it is confirmed.
#[endpoint(tags("account"))]
pub(super) async fn totp_setup(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let app = app(depot);
    let s = who(depot);
    let mut list = app.account_list();
    let secret = accounts::new_totp_secret();
    let Some(a) = list.get_mut(&s.user) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    a.totp_pending = Some(secret.clone());
    let (url, svg) = match accounts::totp_enrolment(&secret, &s.user) {
        Ok(x) => x,
        Err(e) => return refuse(res, StatusCode::INTERNAL_SERVER_ERROR, "internal", e),
    };
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    record(&app, &s, req, "totp_setup", &s.user).await;
    res.render(Json(json!({"secret": secret, "url": url, "qr_svg": svg})));
}

#[derive(Deserialize, salvo::oapi::ToSchema)]
pub(super) struct Code {
    /// A 6-digit code from the authenticator.
    code: String,
}

/// Turns two-factor on (with a first code from the enrolled secret) or off (with a current code).
pub(super) async fn totp_switch(
    enable: bool,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) {
    let app = app(depot);
    let s = who(depot);
    let c: Code = match body(req).await {
        Ok(c) => c,
        Err(e) => return fail(res, e),
    };
    let mut list = app.account_list();
    let Some(a) = list.get_mut(&s.user) else {
        return refuse(
            res,
            StatusCode::NOT_FOUND,
            "not_found",
            "the account is gone",
        );
    };
    let (secret, missing) = if enable {
        (a.totp_pending.clone(), "start the set-up first")
    } else {
        (a.totp.clone(), "two-factor is not on")
    };
    let Some(secret) = secret else {
        return refuse(res, StatusCode::CONFLICT, "invalid_state", missing);
    };
    if !accounts::check_totp(&secret, &s.user, &c.code, unix_now())
        || !app.used_codes.first_use(&s.user, c.code.trim())
    {
        return refuse(
            res,
            StatusCode::BAD_REQUEST,
            "bad_totp",
            "wrong two-factor code; check the authenticator's clock",
        );
    }
    a.totp_pending = None;
    a.totp = enable.then_some(secret);
    if let Err(e) = save_accounts(&app, list).await {
        return fail(res, e);
    }
    let action = if enable {
        "totp_enabled"
    } else {
        "totp_disabled"
    };
    record(&app, &s, req, action, &s.user).await;
    res.render(Json(json!({"ok": true})));
}

/// Turns two-factor on with a first code from the enrolled secret.
#[endpoint(tags("account"))]
pub(super) async fn totp_enable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    totp_switch(true, req, depot, res).await;
}

/// Turns two-factor off (needs a current code).
#[endpoint(tags("account"))]
pub(super) async fn totp_disable(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    totp_switch(false, req, depot, res).await;
}

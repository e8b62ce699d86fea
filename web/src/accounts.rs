//! The admin page's accounts: names, roles, argon2id password hashes and TOTP (RFC 6238) second
//! factors. They are kept in the store's state table (never in the event log, which may be
//! published), written through the engine like every other write.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use domain::engine::OperatorAction;
use serde::{Deserialize, Serialize};
use store::{Audit, View};

/// The store key the accounts live under.
pub const STATE_KEY: &str = domain::engine::ACCOUNTS_KEY;

/// What an account may do. Ordered: each role can do what the ones before it can.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    salvo::oapi::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Runs auctions, campaigns, assets, the stream and the outbox; not settings or users.
    Operator,
    /// Everything.
    Admin,
}

impl Role {
    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

/// One account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// argon2id PHC string.
    pub hash: String,
    /// TOTP secret (base32) once two-factor is enabled.
    #[serde(default)]
    pub totp: Option<String>,
    /// A TOTP secret shown to the user, waiting for a first code to confirm it.
    #[serde(default)]
    pub totp_pending: Option<String>,
    /// Cannot log in.
    #[serde(default)]
    pub disabled: bool,
}

/// An account as shown (no hash, no secret).
#[derive(Clone, Debug, Serialize, salvo::oapi::ToSchema)]
pub struct AccountView {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Two-factor enabled.
    pub totp: bool,
    /// Cannot log in.
    pub disabled: bool,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> AccountView {
        AccountView {
            name: a.name.clone(),
            role: a.role,
            totp: a.totp.is_some(),
            disabled: a.disabled,
        }
    }
}

/// All accounts, as stored.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    /// The accounts.
    pub users: Vec<Account>,
    /// The stored value this list was read from (`None`: none was stored): a save succeeds only
    /// while it is still the stored one.
    #[serde(skip)]
    pub revision: Option<String>,
}

impl AccountList {
    /// Reads the accounts from a store snapshot.
    pub fn read(view: &impl View) -> Result<AccountList, String> {
        match view.state(STATE_KEY).map_err(|e| e.to_string())? {
            Some(bytes) => {
                let mut list: AccountList = serde_json::from_slice(&bytes)
                    .map_err(|e| format!("the stored accounts are unreadable: {e}"))?;
                list.revision = Some(
                    String::from_utf8(bytes)
                        .map_err(|_| "the stored accounts are not UTF-8".to_string())?,
                );
                Ok(list)
            }
            None => Ok(AccountList::default()),
        }
    }

    /// Saves the list through the engine, only if the stored accounts are still those it was
    /// read from; a `conflict` refusal otherwise (read again and retry).
    pub async fn save(&self, backend: &dyn crate::Backend) -> Result<(), crate::Refusal> {
        let action = OperatorAction::SaveAccounts {
            expected: self.revision.clone(),
            accounts: self.to_json(),
        };
        let audit = Audit {
            actor: "admin page".into(),
            origin: String::new(),
            reason: String::new(),
        };
        backend.act(action, audit).await?;
        Ok(())
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An account by name.
    pub fn get(&self, name: &str) -> Option<&Account> {
        self.users.iter().find(|a| a.name == name)
    }

    /// An account by name, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Account> {
        self.users.iter_mut().find(|a| a.name == name)
    }

    /// Sets (or creates, with `role`) `name`'s password.
    pub fn set_password(&mut self, name: &str, password: &str, role: Role) -> Result<(), String> {
        check_name(name)?;
        let hash = hash_password(password)?;
        match self.get_mut(name) {
            Some(a) => a.hash = hash,
            None => self.users.push(Account {
                name: name.to_string(),
                role,
                hash,
                totp: None,
                totp_pending: None,
                disabled: false,
            }),
        }
        Ok(())
    }

    /// Active admins (the last one cannot be removed, demoted or disabled).
    pub fn admins(&self) -> usize {
        self.users
            .iter()
            .filter(|a| a.role == Role::Admin && !a.disabled)
            .count()
    }
}

/// Login names: 1-32 letters, digits, `.`, `_` or `-`.
pub fn check_name(name: &str) -> Result<(), String> {
    if (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        Ok(())
    } else {
        Err("a name is 1-32 letters, digits, '.', '_' or '-'".into())
    }
}

/// Passwords: 12 to 256 characters.
pub fn check_password(password: &str) -> Result<(), String> {
    match password.chars().count() {
        0..=11 => Err("a password has at least 12 characters".into()),
        257.. => Err("a password has at most 256 characters".into()),
        _ => Ok(()),
    }
}

/// An argon2id hash (the crate's defaults: 19 MiB, 2 passes) with a random salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    check_password(password)?;
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| format!("cannot hash the password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches `hash` (constant-time comparison inside argon2).
pub fn verify_password(hash: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// Random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

/// A random password for the first admin: 20 characters without look-alikes.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    random_bytes::<20>()
        .iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}

/// A fresh TOTP secret (160 bits), base32.
pub fn new_totp_secret() -> String {
    totp_rs::Secret::from(random_bytes::<20>()).to_base32()
}

fn totp(secret: &str, account: &str) -> Result<totp_rs::Totp, String> {
    let secret =
        totp_rs::Secret::try_from_base32(secret).map_err(|e| format!("bad secret: {e}"))?;
    totp_rs::Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("SothebAIs"))
        .build()
        .map_err(|e| format!("bad TOTP parameters: {e}"))
}

/// Whether `code` is the 6-digit code of `secret` at `unix_secs` (one step of clock skew either
/// way).
pub fn check_totp(secret: &str, account: &str, code: &str, unix_secs: u64) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret, account).is_ok_and(|t| t.check(code, unix_secs).is_some())
}

/// The code of `secret` at `unix_secs` (for tests and tools).
pub fn totp_code(secret: &str, account: &str, unix_secs: u64) -> Result<String, String> {
    Ok(totp(secret, account)?.generate(unix_secs).to_string())
}

/// The `otpauth://` URL and its QR code (SVG) for an authenticator app.
pub fn totp_enrolment(secret: &str, account: &str) -> Result<(String, String), String> {
    let url = totp(secret, account)?
        .to_url()
        .map_err(|e| format!("cannot make the otpauth URL: {e}"))?;
    let code = qrcode::QrCode::new(url.as_bytes()).map_err(|e| format!("QR code: {e}"))?;
    let svg = code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    Ok((url, svg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_and_verify() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, "correct horse battery"));
        assert!(!verify_password(&h, "correct horse battery!"));
        assert!(!verify_password("garbage", "x"));
        assert!(hash_password("short").is_err());
        assert_eq!(random_password().len(), 20);
        assert_ne!(random_password(), random_password());
    }

    #[test]
    fn totp_follows_rfc_6238() {
        // RFC 6238 appendix B, SHA-1: secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // its last 6 digits are the 6-digit code.
        let secret = totp_rs::Secret::from(b"12345678901234567890".to_vec()).to_base32();
        assert_eq!(totp_code(&secret, "a", 59).unwrap(), "287082");
        assert!(check_totp(&secret, "a", "287082", 59));
        assert!(
            check_totp(&secret, "a", "287082", 59 + 30),
            "one step of skew"
        );
        assert!(!check_totp(&secret, "a", "287082", 59 + 120));
        assert!(!check_totp(&secret, "a", "28708", 59));
        let (url, svg) = totp_enrolment(&new_totp_secret(), "admin").unwrap();
        assert!(url.starts_with("otpauth://totp/SothebAIs:admin?"));
        assert!(svg.contains("<svg"));
    }

    #[test]
    fn names_and_roles() {
        assert!(check_name("ana.k").is_ok());
        assert!(check_name("../x").is_err());
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        let mut list = AccountList::default();
        list.set_password("admin", "a very long password", Role::Admin)
            .unwrap();
        assert_eq!(list.admins(), 1);
        let json = list.to_json();
        assert!(!json.contains("a very long password"));
    }
}

//! Who may use the console: bearer tokens with roles.
//!
//! Contract: a token file is TOML, `[[token]] name = "ann", role = "editor", token =
//! "…"` (a token is at least [`MIN_TOKEN_LENGTH`] characters). A request presents
//! `Authorization: Bearer <token>` (or, from the browser, the `segstream_token` cookie
//! the login page sets). [`Tokens::identify`] compares the presented token with every
//! configured one (`subtle`), in time that does not depend on where they differ or on
//! which one matched (only a length mismatch is quicker). Roles are ordered: a viewer
//! reads and previews; an editor also creates, saves, publishes, rolls back and renames;
//! an admin also deletes and imports. Without tokens the console refuses to start unless
//! it is explicitly insecure, in which case everyone (with no token, or one it does not
//! know) is an admin called `anonymous`.

use serde::Deserialize;
use subtle::ConstantTimeEq;

/// What a caller may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads and previews.
    Viewer,
    /// Also writes rules.
    Editor,
    /// Also deletes and imports.
    Admin,
}

/// Someone identified by a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (written to the audit).
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// The shortest token accepted.
pub const MIN_TOKEN_LENGTH: usize = 16;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    role: Role,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    #[serde(default)]
    token: Vec<TokenEntry>,
}

/// The configured tokens (see the module contract).
#[derive(Clone, Debug)]
pub struct Tokens {
    entries: Vec<(Vec<u8>, Caller)>,
    insecure: bool,
}

/// Why tokens could not be set up.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token file is not valid.
    #[error("token file: {0}")]
    File(String),
    /// No tokens and not insecure.
    #[error("the console needs tokens (--console-tokens FILE); run it open to everyone only with --insecure")]
    NoTokens,
}

impl Tokens {
    /// Tokens from `(name, role, token)`; none at all is refused unless `insecure`.
    pub fn new(entries: Vec<(String, Role, String)>, insecure: bool) -> Result<Tokens, AuthError> {
        if entries.is_empty() && !insecure {
            return Err(AuthError::NoTokens);
        }
        let mut kept = Vec::with_capacity(entries.len());
        for (name, role, token) in entries {
            if token.chars().count() < MIN_TOKEN_LENGTH {
                return Err(AuthError::File(format!(
                    "the token of {name:?} is shorter than {MIN_TOKEN_LENGTH} characters"
                )));
            }
            if name.trim().is_empty() {
                return Err(AuthError::File("a token needs a name (it is written to the audit)".into()));
            }
            kept.push((token.into_bytes(), Caller { name, role }));
        }
        Ok(Tokens { entries: kept, insecure })
    }

    /// Tokens from a token file's text.
    pub fn from_toml(text: &str, insecure: bool) -> Result<Tokens, AuthError> {
        let file: TokenFile = toml_from_str(text)?;
        Tokens::new(file.token.into_iter().map(|t| (t.name, t.role, t.token)).collect(), insecure)
    }

    /// Who presents `token` (`None`: nobody known). Every token is compared.
    pub fn identify(&self, token: Option<&str>) -> Option<Caller> {
        let anonymous = || Caller {
            name: "anonymous".into(),
            role: Role::Admin,
        };
        let Some(presented) = token.map(str::as_bytes) else {
            return self.insecure.then(anonymous);
        };
        let mut found = None;
        for (secret, caller) in &self.entries {
            if bool::from(secret.as_slice().ct_eq(presented)) {
                found = Some(caller.clone());
            }
        }
        found.or_else(|| self.insecure.then(anonymous))
    }

    /// Whether anyone gets in without a token.
    pub fn insecure(&self) -> bool {
        self.insecure
    }
}

fn toml_from_str(text: &str) -> Result<TokenFile, AuthError> {
    toml::from_str(text).map_err(|e| AuthError::File(e.message().trim().to_string()))
}

/// The token a request presents: `Authorization: Bearer …`, else the console's cookie.
pub fn presented_token<'a>(authorization: Option<&'a str>, cookie: Option<&'a str>) -> Option<&'a str> {
    if let Some(value) = authorization {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    cookie?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The cookie the login page sets.
pub const COOKIE: &str = "segstream_token";

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "[[token]]\nname = \"ann\"\nrole = \"editor\"\ntoken = \"ann-0123456789abcdef\"\n\n[[token]]\nname = \"vic\"\nrole = \"viewer\"\ntoken = \"vic-0123456789abcdef\"\n";

    #[test]
    fn tokens_identify_their_holder_and_nobody_else() {
        let tokens = Tokens::from_toml(FILE, false).unwrap();
        assert_eq!(tokens.identify(Some("ann-0123456789abcdef")).map(|c| c.role), Some(Role::Editor));
        assert_eq!(tokens.identify(Some("vic-0123456789abcdef")).map(|c| c.name), Some("vic".into()));
        assert_eq!(tokens.identify(Some("ann-0123456789abcdeF")), None);
        assert_eq!(tokens.identify(Some("ann")), None);
        assert_eq!(tokens.identify(None), None);
        assert!(Role::Viewer < Role::Editor && Role::Editor < Role::Admin);
    }

    #[test]
    fn no_tokens_is_refused_unless_insecure_and_short_tokens_always() {
        assert_eq!(Tokens::from_toml("", false).err(), Some(AuthError::NoTokens));
        let open = Tokens::from_toml("", true).unwrap();
        assert_eq!(open.identify(None).map(|c| c.role), Some(Role::Admin));
        assert_eq!(open.identify(Some("a stale cookie")).map(|c| c.name), Some("anonymous".into()));
        let short = "[[token]]\nname = \"a\"\nrole = \"admin\"\ntoken = \"short\"\n";
        assert!(matches!(Tokens::from_toml(short, true), Err(AuthError::File(_))));
        assert!(matches!(Tokens::from_toml("[[token]]\nname = 1\n", false), Err(AuthError::File(_))));
    }

    #[test]
    fn the_token_comes_from_the_header_or_the_cookie() {
        assert_eq!(presented_token(Some("Bearer  abc "), None), Some("abc"));
        assert_eq!(presented_token(Some("Basic abc"), Some("segstream_token=x")), None);
        assert_eq!(presented_token(None, Some("a=b; segstream_token=xyz")), Some("xyz"));
        assert_eq!(presented_token(None, None), None);
    }
}

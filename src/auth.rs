//! HS256 JWT verification for `auth = "hmac"` (SPEC §3). No I/O, no clock:
//! the caller passes the time. The signature is checked with `hmac`'s
//! constant-time comparison before any claim is trusted.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Chat, private messages, retract own messages.
    #[default]
    User,
    /// Also kick, mute, retract anyone's messages.
    Moderator,
    /// Also broadcast to everyone.
    Admin,
}

/// The verified claims of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The user id (`sub`).
    pub user: String,
    /// The role (`role`, default user).
    pub role: Role,
    /// The only rooms the user may join (`rooms`), if limited.
    pub rooms: Option<Vec<String>>,
}

/// Why a token was refused (the text goes into the `unauthorized` error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not three base64url parts of JSON.
    Malformed,
    /// `alg` is not HS256.
    Algorithm,
    /// The signature does not match.
    Signature,
    /// `exp` has passed.
    Expired,
    /// `nbf` has not come yet.
    NotYetValid,
    /// `sub` is missing or not a usable user id.
    Subject,
}

impl TokenError {
    /// A short reason for the client.
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed token",
            TokenError::Algorithm => "token algorithm must be HS256",
            TokenError::Signature => "bad token signature",
            TokenError::Expired => "token expired",
            TokenError::NotYetValid => "token not valid yet (nbf)",
            TokenError::Subject => "token has no valid sub",
        }
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct RawClaims {
    sub: Option<String>,
    exp: Option<f64>,
    #[serde(default)]
    role: Role,
    rooms: Option<Vec<String>>,
    nbf: Option<f64>,
}

/// Verify `token` with `secret` at `now_secs` (Unix time).
pub fn verify(token: &str, secret: &[u8], now_secs: u64) -> Result<Claims, TokenError> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let decode = |part: &str| {
        URL_SAFE_NO_PAD
            .decode(part.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed)
    };
    let header: Header = serde_json::from_slice(&decode(h)?).map_err(|_| TokenError::Malformed)?;
    if header.alg != "HS256" {
        // Never "none", never a key-confusion with another algorithm.
        return Err(TokenError::Algorithm);
    }
    let signature = decode(s)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| TokenError::Signature)?;
    mac.update(h.as_bytes());
    mac.update(b".");
    mac.update(p.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| TokenError::Signature)?;
    let claims: RawClaims =
        serde_json::from_slice(&decode(p)?).map_err(|_| TokenError::Malformed)?;
    if claims.exp.is_some_and(|exp| (now_secs as f64) >= exp) {
        return Err(TokenError::Expired);
    }
    // RFC 7519 §4.1.5: "MUST NOT be accepted for processing" before nbf.
    if claims.nbf.is_some_and(|nbf| (now_secs as f64) < nbf) {
        return Err(TokenError::NotYetValid);
    }
    let user = claims
        .sub
        .filter(|u| crate::ids::valid_user(u))
        .ok_or(TokenError::Subject)?;
    Ok(Claims {
        user,
        role: claims.role,
        rooms: claims.rooms,
    })
}

/// Make an HS256 token for `claims` (a JSON object): tests, the README's
/// one-liner and tools.
pub fn sign(claims: &serde_json::Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(header.as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{header}.{payload}.{sig}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"secret";

    #[test]
    fn rfc7519_style_token_verifies() {
        let t = sign(
            &json!({"sub": "alice", "exp": 2_000_000_000u64, "role": "moderator", "rooms": ["a", "b"]}),
            KEY,
        );
        let c = verify(&t, KEY, 1_700_000_000).unwrap();
        assert_eq!(
            c,
            Claims {
                user: "alice".into(),
                role: Role::Moderator,
                rooms: Some(vec!["a".into(), "b".into()])
            }
        );
        assert_eq!(verify(&t, KEY, 2_000_000_000), Err(TokenError::Expired));
        assert_eq!(
            verify(&t, b"other", 1_700_000_000),
            Err(TokenError::Signature)
        );
    }

    #[test]
    fn not_before_and_the_reserved_subject() {
        let t = sign(&json!({"sub": "bob", "nbf": 1_800_000_000u64}), KEY);
        assert_eq!(verify(&t, KEY, 1_799_999_999), Err(TokenError::NotYetValid));
        assert_eq!(
            verify(&t, KEY, 1_800_000_000).map(|c| c.user),
            Ok("bob".into())
        );
        let t = sign(&json!({"sub": "system"}), KEY);
        assert_eq!(verify(&t, KEY, 1), Err(TokenError::Subject));
    }

    #[test]
    fn tampering_and_garbage_are_refused() {
        let t = sign(&json!({"sub": "alice"}), KEY);
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.rsplit_once('.').unwrap();
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(br#"{"sub":"alice","role":"admin"}"#)
        );
        assert_eq!(verify(&forged, KEY, 0), Err(TokenError::Signature));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"x"}"#)
        );
        assert_eq!(verify(&none, KEY, 0), Err(TokenError::Algorithm));
        for bad in ["", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.e30"] {
            assert!(verify(bad, KEY, 0).is_err(), "{bad}");
        }
        assert_eq!(
            verify(&sign(&json!({"role": "user"}), KEY), KEY, 0),
            Err(TokenError::Subject)
        );
        assert_eq!(
            verify(&sign(&json!({"sub": "x", "role": "god"}), KEY), KEY, 0),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            verify(&sign(&json!({"sub": "x"}), KEY), KEY, 0)
                .unwrap()
                .role,
            Role::User
        );
    }
}

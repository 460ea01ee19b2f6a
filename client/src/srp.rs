//! Cognito's flavour of SRP-6a (`USER_SRP_AUTH`): the client's public value `A` and the
//! `PASSWORD_VERIFIER` answer, so the password itself never leaves the machine.
//!
//! Cognito's variant (as in `amazon-cognito-identity-js`' `AuthenticationHelper`): the 3072-bit
//! group of RFC 5054 with g = 2, SHA-256, hex strings padded to whole bytes with a leading `00`
//! when the top bit is set, `x = H(salt || H(poolName || userId || ":" || password))`, the session
//! key stretched with HKDF-SHA256 (info "Caldera Derived Key", 16 bytes), and the claim
//! `HMAC(key, poolName || userId || secretBlock || timestamp)`.
//!
//! The arithmetic is not constant-time (`num-bigint`); the private value is fresh for every login.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use hmac::{Hmac, KeyInit, Mac};
use num_bigint::BigUint;
use rand::RngCore;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::macros::format_description;

/// The RFC 5054 3072-bit prime Cognito uses.
const N_HEX: &str = concat!(
    "FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DD",
    "EF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7ED",
    "EE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F",
    "83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3B",
    "E39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA0510",
    "15728E5A8AAAC42DAD33170D04507A33A85521ABDF1CBA64ECFB850458DBEF0A8AEA71575D060C7DB3970F85A6E1E4C7",
    "ABF5AE8CDB0933D71E8C94E04A25619DCEE3D2261AD2EE6BF12FFA06D98A0864D87602733EC86A64521F2B18177B200C",
    "BBE117577A615D6C770988C0BAD946E208E24FA074E5AB3143DB5BFCE0FD108E4B82D120A93AD2CAFFFFFFFFFFFFFFFF",
);
const G_HEX: &str = "2";
const HKDF_INFO: &[u8] = b"Caldera Derived Key";

/// Why an SRP step could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum SrpError {
    /// A challenge parameter is not what Cognito sends.
    #[error("invalid {name} in the PASSWORD_VERIFIER challenge: {reason}")]
    BadChallenge {
        /// The challenge parameter, e.g. `SALT` or `SRP_B`.
        name: &'static str,
        /// Why it was refused (not hex, …).
        reason: String,
    },
    /// The user pool id lacks the `<region>_<name>` shape.
    #[error("user pool id {0:?} is not of the form <region>_<id>")]
    BadPoolId(String),
    /// The server's `B` is a multiple of N, or u = 0: the exchange must be aborted (RFC 5054 §2.5.4).
    #[error("the server's SRP_B failed the safety check (B mod N = 0 or u = 0)")]
    Unsafe,
}

/// The answer to a `PASSWORD_VERIFIER` challenge (the `ChallengeResponses` values it sets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordClaim {
    /// `TIMESTAMP`: `Tue Nov 5 09:03:07 UTC 2026` (day not padded, as Cognito requires).
    pub timestamp: String,
    /// `PASSWORD_CLAIM_SIGNATURE`: base64 HMAC-SHA256.
    pub signature: String,
}

/// The challenge parameters Cognito returns for `USER_SRP_AUTH`.
#[derive(Debug, Clone)]
pub struct Challenge<'a> {
    /// `USER_ID_FOR_SRP`.
    pub user_id_for_srp: &'a str,
    /// `SALT` (hex).
    pub salt_hex: &'a str,
    /// `SRP_B` (hex).
    pub srp_b_hex: &'a str,
    /// `SECRET_BLOCK` (base64), echoed back and mixed into the claim.
    pub secret_block: &'a str,
}

/// One SRP exchange: the ephemeral private value `a` and public value `A = g^a mod N`.
pub struct SrpClient {
    n: BigUint,
    g: BigUint,
    a: BigUint,
    big_a: BigUint,
}

impl std::fmt::Debug for SrpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrpClient")
            .field("a", &"[redacted]")
            .finish()
    }
}

impl SrpClient {
    /// A new exchange with a random 1024-bit private value from the OS-seeded CSPRNG.
    pub fn new() -> Self {
        let mut bytes = [0u8; 128];
        rand::rng().fill_bytes(&mut bytes);
        Self::with_private_value(&BigUint::from_bytes_be(&bytes))
    }

    /// An exchange with a chosen private value (tests and published vectors).
    pub fn with_private_value(a: &BigUint) -> Self {
        let n = group_prime();
        let g = BigUint::from(2u32);
        let mut a = a % &n;
        if a == BigUint::ZERO {
            a = BigUint::from(1u32);
        }
        let big_a = g.modpow(&a, &n);
        SrpClient { n, g, a, big_a }
    }

    /// `SRP_A` as Cognito expects it: lower-case hex, unpadded.
    pub fn public_value_hex(&self) -> String {
        self.big_a.to_str_radix(16)
    }

    /// Computes the `PASSWORD_VERIFIER` answer for `password` at `now`.
    pub fn password_claim(
        &self,
        user_pool_id: &str,
        password: &str,
        challenge: &Challenge<'_>,
        now: OffsetDateTime,
    ) -> Result<PasswordClaim, SrpError> {
        let pool_name = user_pool_id
            .split_once('_')
            .map(|(_, name)| name)
            .filter(|name| !name.is_empty())
            .ok_or_else(|| SrpError::BadPoolId(user_pool_id.to_owned()))?;
        let key = self.authentication_key(
            pool_name,
            challenge.user_id_for_srp,
            password,
            challenge.srp_b_hex,
            challenge.salt_hex,
        )?;
        let secret_block = decode_secret_block(challenge.secret_block)?;
        let timestamp = cognito_timestamp(now);
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(&key).map_err(|_| SrpError::Unsafe)?;
        mac.update(pool_name.as_bytes());
        mac.update(challenge.user_id_for_srp.as_bytes());
        mac.update(&secret_block);
        mac.update(timestamp.as_bytes());
        let signature = STANDARD.encode(mac.finalize().into_bytes());
        Ok(PasswordClaim {
            timestamp,
            signature,
        })
    }

    /// The 16-byte key both sides derive from the shared secret S.
    fn authentication_key(
        &self,
        pool_name: &str,
        user_id: &str,
        password: &str,
        srp_b_hex: &str,
        salt_hex: &str,
    ) -> Result<[u8; 16], SrpError> {
        let big_b = parse_hex("SRP_B", srp_b_hex)?;
        if (&big_b % &self.n) == BigUint::ZERO {
            return Err(SrpError::Unsafe);
        }
        let u = BigUint::from_bytes_be(&sha256(&hex_bytes(
            &pad_hex_biguint(&self.big_a),
            &pad_hex_biguint(&big_b),
        )?));
        if u == BigUint::ZERO {
            return Err(SrpError::Unsafe);
        }
        parse_hex("SALT", salt_hex)?;
        let identity_hash = sha256(format!("{pool_name}{user_id}:{password}").as_bytes());
        let mut x_input =
            hex::decode(pad_hex_str(salt_hex)).map_err(|e| SrpError::BadChallenge {
                name: "SALT",
                reason: e.to_string(),
            })?;
        x_input.extend_from_slice(&identity_hash);
        let x = BigUint::from_bytes_be(&sha256(&x_input));

        let k = self.multiplier()?;
        let g_x = self.g.modpow(&x, &self.n);
        let kgx = (k * g_x) % &self.n;
        let base = ((&big_b % &self.n) + &self.n - kgx) % &self.n;
        let exponent = &self.a + &u * &x;
        let s = base.modpow(&exponent, &self.n);

        let ikm = hex_decode_padded(&pad_hex_biguint(&s))?;
        let salt = hex_decode_padded(&pad_hex_biguint(&u))?;
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), &ikm);
        let mut okm = [0u8; 16];
        hk.expand(HKDF_INFO, &mut okm)
            .map_err(|_| SrpError::Unsafe)?;
        Ok(okm)
    }

    /// k = H(N || g), with N and g padded as the reference implementation does.
    fn multiplier(&self) -> Result<BigUint, SrpError> {
        let bytes = hex_decode_padded(&format!("00{N_HEX}0{G_HEX}"))?;
        Ok(BigUint::from_bytes_be(&sha256(&bytes)))
    }
}

impl Default for SrpClient {
    fn default() -> Self {
        Self::new()
    }
}

/// The timestamp format Cognito checks: `%a %b %-d %H:%M:%S UTC %Y`, in UTC.
pub fn cognito_timestamp(now: OffsetDateTime) -> String {
    let utc = now.to_offset(time::UtcOffset::UTC);
    let format = format_description!(
        "[weekday repr:short] [month repr:short] [day padding:none] [hour]:[minute]:[second] UTC [year]"
    );
    // Formatting a valid date with a fixed, literal description cannot fail; fall back to the
    // RFC 3339 form (rejected by Cognito, so the error surfaces) rather than panicking.
    utc.format(&format).unwrap_or_else(|_| utc.to_string())
}

fn group_prime() -> BigUint {
    // N_HEX is a compile-time constant of valid hex digits.
    BigUint::parse_bytes(N_HEX.as_bytes(), 16).unwrap_or_default()
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn parse_hex(name: &'static str, value: &str) -> Result<BigUint, SrpError> {
    if value.is_empty() {
        return Err(SrpError::BadChallenge {
            name,
            reason: "empty".into(),
        });
    }
    BigUint::parse_bytes(value.as_bytes(), 16).ok_or_else(|| SrpError::BadChallenge {
        name,
        reason: "not hexadecimal".into(),
    })
}

/// Hex of `n`, padded to whole bytes and with a `00` byte when the top bit is set.
fn pad_hex_biguint(n: &BigUint) -> String {
    pad_hex_str(&n.to_str_radix(16))
}

fn pad_hex_str(hex: &str) -> String {
    if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else if hex.starts_with(|c: char| matches!(c, '8'..='9' | 'a'..='f' | 'A'..='F')) {
        format!("00{hex}")
    } else {
        hex.to_owned()
    }
}

/// Decodes hex this module produced itself (always whole bytes of valid digits).
fn hex_decode_padded(hex: &str) -> Result<Vec<u8>, SrpError> {
    hex::decode(hex).map_err(|_| SrpError::Unsafe)
}

fn hex_bytes(first: &str, second: &str) -> Result<Vec<u8>, SrpError> {
    hex_decode_padded(&format!("{first}{second}"))
}

/// `SECRET_BLOCK` is base64. Like the reference clients (Amplify's `Buffer.from(s, 'base64')`,
/// Python's `b64decode`), characters outside the base64 alphabet are skipped.
fn decode_secret_block(block: &str) -> Result<Vec<u8>, SrpError> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    let cleaned: String = block
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/'))
        .collect();
    LENIENT.decode(cleaned).map_err(|e| SrpError::BadChallenge {
        name: "SECRET_BLOCK",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_unpadded_day_and_padded_time() {
        let t = time::macros::datetime!(2026-11-05 09:03:07 UTC);
        assert_eq!(cognito_timestamp(t), "Thu Nov 5 09:03:07 UTC 2026");
        let t = time::macros::datetime!(2026-11-25 18:38:19 +02:00);
        assert_eq!(cognito_timestamp(t), "Wed Nov 25 16:38:19 UTC 2026");
    }

    #[test]
    fn pad_hex_follows_the_reference_rules() {
        assert_eq!(pad_hex_str("abc"), "0abc");
        assert_eq!(pad_hex_str("8f"), "008f");
        assert_eq!(pad_hex_str("7f"), "7f");
        assert_eq!(pad_hex_biguint(&BigUint::from(255u32)), "00ff");
    }

    #[test]
    fn public_value_is_g_to_the_a() {
        let client = SrpClient::with_private_value(&BigUint::from(10u32));
        assert_eq!(client.public_value_hex(), "400");
    }

    #[test]
    fn b_multiple_of_n_is_refused() {
        let client = SrpClient::with_private_value(&BigUint::from(12345u32));
        let challenge = Challenge {
            user_id_for_srp: "user",
            salt_hex: "abcd",
            srp_b_hex: N_HEX,
            secret_block: "AAAA",
        };
        let err = client
            .password_claim(
                "eu-west-1_pool",
                "pw",
                &challenge,
                OffsetDateTime::UNIX_EPOCH,
            )
            .unwrap_err();
        assert!(matches!(err, SrpError::Unsafe), "{err}");
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let client = SrpClient::new();
        let mut challenge = Challenge {
            user_id_for_srp: "user",
            salt_hex: "zz",
            srp_b_hex: "1234",
            secret_block: "AAAA",
        };
        let now = OffsetDateTime::UNIX_EPOCH;
        assert!(
            client
                .password_claim("eu-west-1_pool", "pw", &challenge, now)
                .is_err()
        );
        challenge.salt_hex = "12";
        challenge.srp_b_hex = "";
        assert!(
            client
                .password_claim("eu-west-1_pool", "pw", &challenge, now)
                .is_err()
        );
        challenge.srp_b_hex = "1234";
        assert!(matches!(
            client.password_claim("nounderscore", "pw", &challenge, now),
            Err(SrpError::BadPoolId(_))
        ));
        assert!(
            client
                .password_claim("eu-west-1_pool", "pw", &challenge, now)
                .is_ok()
        );
    }

    #[test]
    fn secret_block_decoding_skips_non_alphabet_characters() {
        assert_eq!(decode_secret_block("AQID").unwrap(), vec![1, 2, 3]);
        assert_eq!(decode_secret_block("AQ-ID\n").unwrap(), vec![1, 2, 3]);
    }

    #[test]
    fn each_exchange_has_a_fresh_private_value() {
        assert_ne!(
            SrpClient::new().public_value_hex(),
            SrpClient::new().public_value_hex()
        );
    }
}

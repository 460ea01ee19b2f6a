//! The session cache: settings, Cognito tokens, identity id and temporary credentials of the last
//! login, in a JSON file only the user can read (0600, directory 0700), replaced atomically.

use crate::secret::Secret;
use crate::settings::Settings;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Credentials or tokens closer than this to their expiry are renewed before use.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);

/// Format version of the file; a file with another version is ignored with a clear error.
const VERSION: u32 = 1;

/// Errors reading or writing the session file.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session file: the user has not logged in.
    #[error(
        "not logged in (no session file at {0}): run `login --email EMAIL` first (with `--stack STACK`, or the pool settings, the first time)"
    )]
    NotLoggedIn(PathBuf),
    /// The file exists but is not a session this version understands.
    #[error("the session file {path} is unreadable ({reason}): run `login` again")]
    Corrupt {
        /// The session file.
        path: PathBuf,
        /// Why it could not be used (the JSON error, or a format version this build does not know).
        reason: String,
    },
    /// An I/O error.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `reading` or `deleting`.
        action: &'static str,
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// No cache directory could be determined.
    #[error("no cache directory found (set XDG_CACHE_HOME or HOME, or pass --session-file)")]
    NoCacheDir,
}

/// User Pool tokens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tokens {
    /// The ID token (exchanged at the Identity Pool).
    pub id_token: Secret,
    /// The User Pool access token (stored as Cognito issued it; the API calls sign with IAM
    /// credentials instead).
    pub access_token: Secret,
    /// The refresh token (renews the ID token).
    pub refresh_token: Secret,
    /// When the ID and access tokens expire, in seconds since the Unix epoch.
    pub expires_at: u64,
}

/// Temporary AWS credentials from the Identity Pool.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredCredentials {
    /// `AccessKeyId` (not secret on its own, but kept with its key).
    pub access_key_id: String,
    /// `SecretKey`: the signing key.
    pub secret_access_key: Secret,
    /// `SessionToken`: sent as `x-amz-security-token` with every signed request.
    pub session_token: Secret,
    /// Expiry, in seconds since the Unix epoch.
    pub expiration: u64,
}

/// Everything `call` and `whoami` need after `login`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    /// File format version.
    pub version: u32,
    /// The settings login used (so later commands need no flags).
    pub settings: Settings,
    /// The user's email (the User Pool username).
    pub email: String,
    /// User Pool tokens.
    pub tokens: Tokens,
    /// The Identity Pool identity id (GetId): the caller the API reports; kept to renew the
    /// credentials without a new GetId.
    pub identity_id: String,
    /// The current temporary credentials.
    pub credentials: StoredCredentials,
}

impl Session {
    /// A session in the current file format.
    pub fn new(
        settings: Settings,
        email: String,
        tokens: Tokens,
        identity_id: String,
        credentials: StoredCredentials,
    ) -> Self {
        Session {
            version: VERSION,
            settings,
            email,
            tokens,
            identity_id,
            credentials,
        }
    }
}

/// Seconds since the Unix epoch at `time` (0 before the epoch).
pub fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Whether something expiring at `expires_at` is still good at `now`, with [`EXPIRY_MARGIN`].
pub fn still_valid(expires_at: u64, now: SystemTime) -> bool {
    expires_at > unix_seconds(now) + EXPIRY_MARGIN.as_secs()
}

/// The default session file: `<cache dir>/aws-rust-http-api/session.json`.
pub fn default_path() -> Result<PathBuf, SessionError> {
    dirs::cache_dir()
        .map(|dir| dir.join("aws-rust-http-api").join("session.json"))
        .ok_or(SessionError::NoCacheDir)
}

/// Reads the session at `path`.
pub fn load(path: &Path) -> Result<Session, SessionError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(SessionError::NotLoggedIn(path.to_owned()));
        }
        Err(source) => {
            return Err(SessionError::Io {
                action: "reading",
                path: path.to_owned(),
                source,
            });
        }
    };
    let session: Session = serde_json::from_str(&text).map_err(|e| SessionError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    if session.version != VERSION {
        return Err(SessionError::Corrupt {
            path: path.to_owned(),
            reason: format!("format version {} (expected {VERSION})", session.version),
        });
    }
    restrict_permissions(path);
    Ok(session)
}

/// A session file others can read (copied, restored from a backup…) is made private again.
#[cfg(unix)]
fn restrict_permissions(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode();
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{:o}", mode & 0o777), "session file was readable by others; setting it to 0600");
        if let Err(error) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
            tracing::warn!(path = %path.display(), %error, "could not make the session file private");
        }
    }
}

#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) {}

/// Writes `session` to `path`: a 0600 temporary file in the same directory, then a rename.
pub fn save(path: &Path, session: &Session) -> Result<(), SessionError> {
    let io = |action, source| SessionError::Io {
        action,
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| io("creating the directory of", e))?;
    let json = serde_json::to_vec_pretty(session).map_err(|e| SessionError::Corrupt {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp); // left over by a crashed process with the same pid
    let result = write_private(&tmp, &json).and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| io("writing", e))
}

/// Deletes the session file; `Ok(false)` when there was none.
pub fn remove(path: &Path) -> Result<bool, SessionError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(SessionError::Io {
            action: "deleting",
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.as_os_str().is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Session {
        Session::new(
            Settings::default(),
            "a@example.com".into(),
            Tokens {
                id_token: Secret::new("id"),
                access_token: Secret::new("access"),
                refresh_token: Secret::new("refresh"),
                expires_at: 100,
            },
            "eu-west-1:abc".into(),
            StoredCredentials {
                access_key_id: "AKID".into(),
                secret_access_key: Secret::new("sk"),
                session_token: Secret::new("st"),
                expiration: 200,
            },
        )
    }

    #[test]
    fn round_trips_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/session.json");
        save(&path, &sample()).unwrap();
        save(&path, &sample()).unwrap(); // replacing an existing file works too
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.credentials.session_token.expose(), "st");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dir_mode & 0o777, 0o700);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            load(&path).unwrap();
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "loading makes a readable file private again"
            );
        }
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert!(matches!(load(&path), Err(SessionError::NotLoggedIn(_))));
    }

    #[test]
    fn corrupt_or_foreign_files_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        std::fs::write(&path, "{not json").unwrap();
        assert!(matches!(load(&path), Err(SessionError::Corrupt { .. })));
        let mut other = serde_json::to_value(sample()).unwrap();
        other["version"] = 99.into();
        std::fs::write(&path, other.to_string()).unwrap();
        assert!(matches!(load(&path), Err(SessionError::Corrupt { .. })));
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let text = format!("{:?}", sample());
        for secret in ["\"id\"", "access\"", "refresh\"", "\"sk\"", "\"st\""] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[test]
    fn validity_has_a_margin() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        assert!(still_valid(1061, now));
        assert!(!still_valid(1060, now));
        assert!(!still_valid(10, now));
    }
}

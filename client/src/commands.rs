//! The commands: settings resolution, the login flow (User Pool → Identity Pool → session file),
//! credential renewal, and the signed API call. Output goes to the given writer.

use crate::aws;
use crate::cognito::{self, AuthMethod, CognitoError};
use crate::http::{self, HttpError};
use crate::identity::{self, IdentityError};
use crate::password::PasswordError;
use crate::secret::Secret;
use crate::session::{self, Session, SessionError, still_valid, unix_seconds};
use crate::settings::{Settings, SettingsError};
use crate::sigv4::{self, AwsCredentials, EXECUTE_API, RequestToSign, SignError};
use crate::stack::{self, StackError};
use crate::target::{self, TargetError};
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// Any failure of a command.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A setting the command needs is missing or malformed.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// `--stack`'s outputs could not be read.
    #[error(transparent)]
    Stack(#[from] StackError),
    /// A User Pool call (sign-up, confirmation, login, refresh) failed.
    #[error(transparent)]
    Cognito(#[from] CognitoError),
    /// The Identity Pool refused the ID token or failed.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The session file is missing, unreadable or could not be written.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The password could not be read (prompt or standard input).
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// A bad `call` argument (URL, PATH, header, body file).
    #[error(transparent)]
    Target(#[from] TargetError),
    /// The request could not be signed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The API call got no HTTP answer.
    #[error(transparent)]
    Http(#[from] HttpError),
    /// Writing to the command's output failed (a closed pipe, a full disk).
    #[error("writing the output: {0}")]
    Output(#[from] std::io::Error),
}

/// What every command starts from.
#[derive(Debug)]
pub struct Context {
    /// Settings from flags and environment.
    pub explicit: Settings,
    /// `--stack`, if given.
    pub stack: Option<String>,
    /// Where the session (tokens, credentials, settings) is read and written: `--session-file` or
    /// the default under the user's cache directory.
    pub session_file: PathBuf,
}

impl Context {
    /// Explicit settings, then the stack's outputs (if `--stack`), then `stored`.
    async fn settings(&self, stored: Option<&Settings>) -> Result<Settings, ClientError> {
        let mut settings = self.explicit.clone();
        if let Some(stack) = &self.stack {
            let config = aws::caller(self.explicit.region.as_deref()).await;
            settings = settings.or(&stack::settings_from_stack(&config, stack).await?);
        }
        Ok(match stored {
            Some(stored) => settings.or(stored),
            None => settings,
        })
    }

    fn stored_settings(&self) -> Option<Settings> {
        session::load(&self.session_file).ok().map(|s| s.settings)
    }
}

async fn user_pool_client(
    settings: &Settings,
) -> Result<aws_sdk_cognitoidentityprovider::Client, ClientError> {
    let region = pool_region(settings)?;
    Ok(aws_sdk_cognitoidentityprovider::Client::new(
        &aws::anonymous(&region).await,
    ))
}

/// The User Pool's region (its id starts with it), else the configured region.
fn pool_region(settings: &Settings) -> Result<String, ClientError> {
    match settings
        .user_pool_id
        .as_deref()
        .and_then(|id| id.split_once('_'))
    {
        Some((region, _)) => Ok(region.to_owned()),
        None => Ok(settings.region()?),
    }
}

/// `signup`. The password is asked for (`password`) only once the pool settings are known to exist.
pub async fn signup(
    ctx: &Context,
    email: &str,
    password: impl FnOnce() -> Result<Secret, PasswordError>,
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let settings = ctx.settings(ctx.stored_settings().as_ref()).await?;
    let client_id = settings.client_id()?;
    let idp = user_pool_client(&settings).await?;
    let password = password()?;
    let outcome = cognito::sign_up(&idp, client_id, email, &password).await?;
    if outcome.confirmed {
        writeln!(
            out,
            "Signed up {email} (already confirmed): next, `login --email {email}`"
        )?;
    } else {
        let to = outcome
            .code_sent_to
            .map(|to| format!(" ({to})"))
            .unwrap_or_default();
        writeln!(
            out,
            "Signed up {email}. A confirmation code was sent{to}: next, `confirm --email {email} --code CODE`"
        )?;
    }
    Ok(())
}

/// `confirm`, with the code or (`code` = None) as an administrator.
pub async fn confirm(
    ctx: &Context,
    email: &str,
    code: Option<&str>,
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let settings = ctx.settings(ctx.stored_settings().as_ref()).await?;
    match code {
        Some(code) => {
            let idp = user_pool_client(&settings).await?;
            cognito::confirm_sign_up(&idp, settings.client_id()?, email, code).await?;
        }
        None => {
            let pool = settings.user_pool_id()?;
            let region = pool_region(&settings)?;
            let idp =
                aws_sdk_cognitoidentityprovider::Client::new(&aws::caller(Some(&region)).await);
            cognito::admin_confirm_sign_up(&idp, pool, email).await?;
        }
    }
    writeln!(out, "Confirmed {email}: next, `login --email {email}`")?;
    Ok(())
}

/// `login`: tokens, identity id and credentials, saved to the session file. The password is asked for
/// (`password`) only once every pool setting is known, so a missing one fails before the prompt.
pub async fn login(
    ctx: &Context,
    email: &str,
    password: impl FnOnce() -> Result<Secret, PasswordError>,
    method: AuthMethod,
    out: &mut impl Write,
) -> Result<(), ClientError> {
    let settings = ctx.settings(ctx.stored_settings().as_ref()).await?;
    let pool = settings.user_pool_id()?;
    let client_id = settings.client_id()?;
    let identity_pool = settings.identity_pool_id()?;
    let idp = user_pool_client(&settings).await?;
    let password = password()?;
    let tokens = cognito::login(&idp, pool, client_id, email, &password, method).await?;
    drop(password);
    let identity_region = identity_pool
        .split_once(':')
        .map_or(pool, |(region, _)| region);
    let cognito_identity =
        aws_sdk_cognitoidentity::Client::new(&aws::anonymous(identity_region).await);
    let logins = identity::logins(pool, &tokens.id_token);
    let identity_id =
        identity::identity_id(&cognito_identity, identity_pool, logins.clone()).await?;
    let credentials = identity::credentials(&cognito_identity, &identity_id, logins).await?;
    let session = Session::new(
        settings.clone(),
        email.to_owned(),
        tokens,
        identity_id,
        credentials,
    );
    session::save(&ctx.session_file, &session)?;
    writeln!(
        out,
        "Logged in as {email}\nidentity id: {}\ncredentials expire: {}\nsession: {}",
        session.identity_id,
        describe_expiry(session.credentials.expiration, SystemTime::now()),
        ctx.session_file.display()
    )?;
    Ok(())
}

/// The session, with credentials renewed (and saved) if they expire within the margin: from the
/// ID token while it is valid, else after renewing the tokens with the refresh token.
pub async fn fresh_session(ctx: &Context, now: SystemTime) -> Result<Session, ClientError> {
    let mut session = session::load(&ctx.session_file)?;
    if still_valid(session.credentials.expiration, now) {
        return Ok(session);
    }
    let stored = session.settings.clone();
    let pool = stored.user_pool_id()?.to_owned();
    if !still_valid(session.tokens.expires_at, now) {
        let idp = user_pool_client(&stored).await?;
        session.tokens =
            cognito::refresh(&idp, stored.client_id()?, &session.tokens.refresh_token).await?;
    }
    let identity_pool = stored.identity_pool_id()?;
    let identity_region = identity_pool
        .split_once(':')
        .map_or(pool.as_str(), |(region, _)| region);
    let cognito_identity =
        aws_sdk_cognitoidentity::Client::new(&aws::anonymous(identity_region).await);
    let logins = identity::logins(&pool, &session.tokens.id_token);
    session.credentials =
        identity::credentials(&cognito_identity, &session.identity_id, logins).await?;
    session::save(&ctx.session_file, &session)?;
    tracing::debug!(
        expiration = session.credentials.expiration,
        "credentials renewed"
    );
    Ok(session)
}

/// `whoami`: the session's user, identity id, access key id and credential expiry (credentials
/// renewed first if they have expired).
pub async fn whoami(ctx: &Context, out: &mut impl Write) -> Result<(), ClientError> {
    let now = SystemTime::now();
    let session = fresh_session(ctx, now).await?;
    writeln!(
        out,
        "email: {}\nidentity id: {}\naccess key id: {}\ncredentials expire: {}\nuser pool: {}",
        session.email,
        session.identity_id,
        session.credentials.access_key_id,
        describe_expiry(session.credentials.expiration, now),
        session.settings.user_pool_id.as_deref().unwrap_or("?"),
    )?;
    Ok(())
}

/// `logout`: deletes the session file; says whether there was one.
pub fn logout(ctx: &Context, out: &mut impl Write) -> Result<(), ClientError> {
    if session::remove(&ctx.session_file)? {
        writeln!(out, "Logged out (deleted {})", ctx.session_file.display())?;
    } else {
        writeln!(out, "Not logged in")?;
    }
    Ok(())
}

/// What `call` sends.
#[derive(Debug)]
pub struct CallArgs {
    /// `[METHOD] PATH`.
    pub target: Vec<String>,
    /// `--data`: the request body, or `@FILE` to send a file's contents.
    pub data: Option<String>,
    /// `-H` values, parsed by [`target::parse_header`] (lowercase name, value).
    pub headers: Vec<(String, String)>,
    /// `-i`: print the status line and headers before the body.
    pub include: bool,
    /// Pretty-print JSON (stdout is a terminal).
    pub pretty: bool,
}

/// `call`: returns the HTTP status after printing the answer.
pub async fn call(ctx: &Context, args: CallArgs, out: &mut impl Write) -> Result<u16, ClientError> {
    let session = fresh_session(ctx, SystemTime::now()).await?;
    let settings = ctx.settings(Some(&session.settings)).await?;
    let base = target::parse_api_url(settings.api_url()?)?;
    let (method, path) = match args.target.as_slice() {
        [method, path] => (method.to_ascii_uppercase(), path.as_str()),
        [path] if args.data.is_some() => ("POST".to_owned(), path.as_str()),
        [path] => ("GET".to_owned(), path.as_str()),
        _ => ("GET".to_owned(), "/"),
    };
    let url = target::build_url(&base, path)?;
    let body = args
        .data
        .as_deref()
        .map(target::read_body)
        .transpose()?
        .unwrap_or_default();
    let mut headers = args.headers;
    if args.data.is_some() && !headers.iter().any(|(name, _)| name == "content-type") {
        headers.push(("content-type".into(), "application/json".into()));
    }
    let region = match &ctx.explicit.region {
        Some(region) => region.clone(),
        None => sigv4::region_from_api_host(&url).map_or_else(|| settings.region(), Ok)?,
    };
    let credentials = AwsCredentials {
        access_key_id: session.credentials.access_key_id.clone(),
        secret_access_key: session.credentials.secret_access_key.clone(),
        session_token: Some(session.credentials.session_token.clone()),
    };
    let request = RequestToSign {
        method: &method,
        url: &url,
        headers: &headers,
        body: &body,
    };
    let signed = sigv4::sign_request(
        &request,
        &credentials,
        &region,
        EXECUTE_API,
        SystemTime::now(),
    )?;
    headers.extend(signed);
    tracing::debug!(method, url = %url, region, "sending signed request");
    let response = http::send(&method, &url, &headers, body).await?;
    http::render(&response, args.include, args.pretty, out)?;
    let status = response.status.as_u16();
    if status == 403 {
        eprintln!("{}", http::forbidden_hint(&response.body, &region));
    }
    Ok(status)
}

fn describe_expiry(expiration: u64, now: SystemTime) -> String {
    let at =
        time::OffsetDateTime::from_unix_timestamp(i64::try_from(expiration).unwrap_or(i64::MAX))
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| expiration.to_string());
    let now = unix_seconds(now);
    if expiration > now {
        let minutes = (expiration - now) / 60;
        format!("{at} (in {minutes} min)")
    } else {
        format!("{at} (expired)")
    }
}

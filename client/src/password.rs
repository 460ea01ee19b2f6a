//! Reading a password without putting it in argv: a no-echo prompt on a terminal, otherwise the
//! first line of standard input (for scripts: `printf '%s\n' "$PW" | aws-rust-http-api login …`).

use crate::secret::Secret;
use std::io::{BufRead, IsTerminal};

/// Why no password could be read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Reading the prompt or standard input failed.
    #[error("reading the password: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing was entered.
    #[error("empty password (type it at the prompt, or pipe it on standard input)")]
    Empty,
    /// The two entries differ.
    #[error("the two passwords differ")]
    Mismatch,
}

/// The password: `given` (from `--password`) if set, else prompted (twice when `confirm`) on a
/// terminal, else the first line of standard input.
pub fn read_password(given: Option<String>, confirm: bool) -> Result<Secret, PasswordError> {
    let password = match given {
        Some(password) => Secret::new(password),
        None if std::io::stdin().is_terminal() => {
            let first = Secret::new(rpassword::prompt_password("Password: ")?);
            if confirm && !first.expose().is_empty() {
                let second = Secret::new(rpassword::prompt_password("Password (again): ")?);
                if first != second {
                    return Err(PasswordError::Mismatch);
                }
            }
            first
        }
        None => read_first_line(&mut std::io::stdin().lock())?,
    };
    if password.expose().is_empty() {
        return Err(PasswordError::Empty);
    }
    Ok(password)
}

fn read_first_line(input: &mut impl BufRead) -> Result<Secret, PasswordError> {
    let mut line = String::new();
    input.read_line(&mut line)?;
    let trimmed = line.trim_end_matches(['\n', '\r']).to_owned();
    zeroize::Zeroize::zeroize(&mut line);
    Ok(Secret::new(trimmed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_without_its_line_ending() {
        let mut input = std::io::Cursor::new(b"p@ss word \r\nsecond line\n".to_vec());
        assert_eq!(read_first_line(&mut input).unwrap().expose(), "p@ss word ");
        let mut empty = std::io::Cursor::new(Vec::new());
        assert_eq!(read_first_line(&mut empty).unwrap().expose(), "");
    }

    #[test]
    fn given_password_is_used_and_empty_refused() {
        assert_eq!(read_password(Some("x".into()), true).unwrap().expose(), "x");
        assert!(matches!(
            read_password(Some(String::new()), false),
            Err(PasswordError::Empty)
        ));
    }
}

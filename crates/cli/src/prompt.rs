//! What people type in answer to a question: passwords (never flags nor
//! environment variables, which shell histories, `ps` and process
//! environments show), and a name when none was given.
//!
//! On a terminal the password is asked for without echo; otherwise one line
//! is read from stdin, so that scripts and tests can pipe it in.

use std::io::{BufRead, IsTerminal, Write};

use crate::CliError;

/// One line of stdin without its line ending; `None` at end of input.
fn stdin_line() -> Result<Option<String>, CliError> {
    let mut line = String::new();
    let read = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::Password(format!("reading stdin: {e}")))?;
    if read == 0 {
        return Ok(None);
    }
    // Only the line ending goes: spaces may belong to the password.
    let end = line.trim_end_matches(['\n', '\r']).len();
    line.truncate(end);
    Ok(Some(line))
}

/// Asks on the terminal, without echo.
fn hidden(prompt: &str) -> Result<String, CliError> {
    rpassword::prompt_password(prompt)
        .map_err(|e| CliError::Password(format!("reading the password from the terminal: {e}")))
}

fn nonempty(password: Option<String>) -> Result<String, CliError> {
    match password {
        Some(p) if !p.is_empty() => Ok(p),
        _ => Err(CliError::Password(
            "no password given: type it when asked, or pipe it on stdin \
             (`printf '%s\\n' \"$PASSWORD\" | reemploi …`)"
                .to_owned(),
        )),
    }
}

/// The password of an existing account.
pub fn password() -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        nonempty(Some(hidden("password: ")?))
    } else {
        nonempty(stdin_line()?)
    }
}

/// A new password: typed twice on a terminal, which must agree; piped, one
/// line (a script does not mistype).
pub fn new_password() -> Result<String, CliError> {
    if !std::io::stdin().is_terminal() {
        return nonempty(stdin_line()?);
    }
    eprintln!("choose a password: at least 12 characters, not a common one");
    let first = nonempty(Some(hidden("new password: ")?))?;
    let second = hidden("the same again: ")?;
    if first != second {
        return Err(CliError::Password(
            "the two passwords differ: nothing was changed, try again".to_owned(),
        ));
    }
    Ok(first)
}

/// A display name: `given`, else asked on a terminal; without a terminal
/// the flag is required.
pub fn name(given: Option<String>, flag: &str) -> Result<String, CliError> {
    if let Some(name) = given.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()) {
        return Ok(name);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Usage(format!(
            "{flag} is required when stdin is not a terminal (your name, as others will see it)"
        )));
    }
    eprint!("your name (as others will see it): ");
    std::io::stderr().flush().map_err(CliError::Stdout)?;
    match stdin_line()? {
        Some(name) if !name.trim().is_empty() => Ok(name.trim().to_owned()),
        _ => Err(CliError::Usage(format!("no name given: pass {flag} NAME"))),
    }
}

//! `reemploi password`: a forgotten password is replaced through a link
//! mailed to the account's address. Neither step needs a login.

use clap::{Args, Subcommand};
use reemploi_proto::identity as ipb;
use serde_json::json;

use super::Ctx;
use crate::CliError;
use crate::client::answer;
use crate::output::emit;
use crate::prompt;

/// The `password` subcommands.
#[derive(Subcommand, Debug)]
pub enum PasswordCommand {
    /// Mails a link (valid 30 minutes) to choose a new password, when the
    /// email has an account; answers the same either way.
    #[command(after_help = "Example:\n  reemploi password forgot --email lea@m2a.example")]
    Forgot(ForgotArgs),
    /// Sets a new password (asked twice) with the code of the mailed link;
    /// every session of the account ends.
    #[command(
        after_help = "Examples:\n  reemploi password reset --code rst_…\n  printf '%s\\n' \"$PASSWORD\" | reemploi password reset --code rst_…"
    )]
    Reset(ResetArgs),
}

/// Flags of `password forgot`.
#[derive(Args, Debug)]
pub struct ForgotArgs {
    /// The account's email.
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
}

/// Flags of `password reset`.
#[derive(Args, Debug)]
pub struct ResetArgs {
    /// The code of the mailed link (`rst_…`).
    #[arg(long)]
    pub code: String,
}

/// Runs a `password` subcommand.
pub async fn run(ctx: &Ctx, cmd: PasswordCommand) -> Result<(), CliError> {
    match cmd {
        PasswordCommand::Forgot(a) => {
            let mut identity = ctx.connect_anonymous().await?.identity();
            let email = a.email.trim().to_owned();
            let req = ipb::RequestPasswordResetRequest {
                email: email.clone(),
            };
            answer(identity.request_password_reset(req).await)?;
            emit(
                ctx.format,
                json!({"email": email, "requested": true}),
                || {
                    format!(
                        "if {email} has an account, a link to choose a new password was mailed to it \
                     (valid 30 minutes, once)\nthen: reemploi password reset --code CODE\n"
                    )
                },
            )
        }
        PasswordCommand::Reset(a) => {
            let password = prompt::new_password()?;
            let mut identity = ctx.connect_anonymous().await?.identity();
            let req = ipb::ResetPasswordRequest {
                code: a.code.trim().to_owned(),
                password,
            };
            answer(identity.reset_password(req).await)?;
            emit(ctx.format, json!({"reset": true}), || {
                "password changed; every session of the account has ended\n\
                 sign in: reemploi login --email EMAIL\n"
                    .to_owned()
            })
        }
    }
}

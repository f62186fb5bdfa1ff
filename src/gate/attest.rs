//! Signing a review: the reviewer's SSH key signs the review's attestation
//! ([`crate::flow::Review::attestation`]) the way git signs commits with `gpg.format=ssh`, in the
//! `aiflow-review` namespace, and the signature is stored with the record.
//!
//! Before anything is written, the signature is verified the way the gate will verify it, against
//! the policy's allowed-signers file when it has one: a reviewer whose key the gate would refuse
//! learns it now, not at the next push.

use super::policy::{Policy, Reviews};
use super::sshsig::{self, NAMESPACE, Verified};
use crate::flow::Review;
use crate::flow::review::Subject;

/// Why a review could not be signed as the policy asks.
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    /// The policy requires signed reviews and no signing key is configured.
    #[error("{source_} requires signed reviews, and no SSH signing key is configured")]
    NoKey {
        /// Where the policy came from.
        source_: String,
    },
    /// Signing failed.
    #[error("could not sign the review")]
    Sign(#[from] sshsig::SignError),
    /// The signature would not pass the gate.
    #[error("your signature would not pass the gate: {problem}")]
    NotAllowed {
        /// Why.
        problem: String,
        /// The allowed-signers file.
        origin: String,
    },
}

impl AttestError {
    /// What to do about it.
    pub fn hints(&self) -> Vec<String> {
        match self {
            AttestError::NoKey { .. } => vec![
                "configure SSH signing as for commits: `git config gpg.format ssh` and `git config user.signingKey ~/.ssh/id_ed25519.pub` (with the key in ssh-agent, or a key file)".into(),
            ],
            AttestError::Sign(_) => vec![
                "check gpg.format, user.signingKey and gpg.ssh.program; a key with a passphrase needs ssh-agent (`ssh-add`)".into(),
            ],
            AttestError::NotAllowed { origin, .. } => vec![format!(
                "ask whoever maintains {origin} to add your key for your email, with namespaces=\"{NAMESPACE}\" or no namespaces option"
            )],
        }
    }

    /// Whether the user must act (exit 1) rather than fix their environment (exit 2).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, AttestError::Sign(_))
    }
}

/// Sign `review` about `subject` with the configured key, when one is configured or the policy
/// requires it; returns who the gate will see as the signer (when the policy names signers).
pub fn sign_review(
    repo: &gix::Repository,
    policy: &Policy,
    review: &mut Review,
    subject: Subject<'_>,
) -> Result<Option<Verified>, AttestError> {
    let setup = sshsig::signing_setup(&repo.config_snapshot())?;
    let Some(setup) = setup else {
        if policy.reviews == Reviews::Signed {
            return Err(AttestError::NoKey {
                source_: policy.source.clone(),
            });
        }
        return Ok(None);
    };
    review.signature = None;
    let payload = review.attestation(subject);
    let signature = sshsig::sign(&setup, &payload, NAMESPACE)?;
    let verified = match &policy.signers {
        Some(signers) => {
            let claimed = super::policy::parse_ident(&review.reviewer).map(|(_, e)| e.to_owned());
            match sshsig::verify(
                &signers.file,
                &payload,
                &signature,
                NAMESPACE,
                crate::flow::epoch(&review.at),
                claimed.as_deref(),
            ) {
                Ok(v) => Some(v),
                Err(e) if policy.reviews == Reviews::Signed => {
                    return Err(AttestError::NotAllowed {
                        problem: e.to_string(),
                        origin: signers.origin.clone(),
                    });
                }
                Err(_) => None,
            }
        }
        None => None,
    };
    review.signature = Some(signature);
    Ok(verified)
}

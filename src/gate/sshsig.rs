//! PLACEHOLDER until the signing module lands: the agreed API, refusing everything.

/// The SSHSIG namespace of review attestations.
pub const NAMESPACE: &str = "aiflow-review";

/// How to sign.
#[derive(Debug, Clone)]
pub struct SigningSetup {}

/// Signing failed.
#[derive(Debug, thiserror::Error)]
#[error("signing is not available in this build")]
pub struct SignError;

/// From config.
pub fn signing_setup(
    _config: &gix::config::Snapshot<'_>,
) -> Result<Option<SigningSetup>, SignError> {
    Ok(None)
}

/// Sign.
pub fn sign(_setup: &SigningSetup, _payload: &[u8], _namespace: &str) -> Result<String, SignError> {
    Err(SignError)
}

/// Allowed signers.
#[derive(Debug)]
pub struct AllowedSigners {}

/// Parse error.
#[derive(Debug, thiserror::Error)]
#[error("cannot parse")]
pub struct ParseError;

impl AllowedSigners {
    /// Parse.
    pub fn parse(_text: &str, _origin: &str) -> Result<Self, ParseError> {
        Ok(AllowedSigners {})
    }
}

/// Who signed.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Principal.
    pub principal: String,
    /// Fingerprint.
    pub fingerprint: String,
    /// Algorithm.
    pub algorithm: String,
}

/// Verification failed.
#[derive(Debug, thiserror::Error)]
#[error("verification is not available in this build")]
pub struct VerifyError;

impl VerifyError {
    /// The reason code.
    pub fn code(&self) -> &'static str {
        "bad-signature"
    }
}

/// Verify.
pub fn verify(
    _signers: &AllowedSigners,
    _payload: &[u8],
    _armored: &str,
    _namespace: &str,
    _time: Option<i64>,
    _claimed_email: Option<&str>,
) -> Result<Verified, VerifyError> {
    Err(VerifyError)
}

//! HTTP for the network providers: one client per request with both timeouts, retries with
//! backoff on 429 and 5xx honouring `Retry-After`, errors that name the provider, URL and model
//! (never the key), and progress on stderr while waiting (a spinner on a terminal).

use super::{AiError, ErrorKind, Settings};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// The longest wait a `Retry-After` may ask for before we give up instead.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A configured client for one provider.
pub(crate) struct Http {
    client: reqwest::blocking::Client,
    provider: &'static str,
    model: String,
    retries: u32,
    timeout: Duration,
}

/// A response body, parsed.
pub(crate) struct Answer {
    /// The JSON body.
    pub json: serde_json::Value,
    /// How long it took, retries included.
    pub duration: Duration,
}

impl Http {
    /// A client for `provider` with the timeouts of `settings`.
    pub(crate) fn new(
        provider: &'static str,
        model: &str,
        settings: &Settings,
    ) -> Result<Http, AiError> {
        // reqwest is built without a crypto provider (no C toolchain for aws-lc); use ring.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::blocking::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.connect_timeout)
            .user_agent(concat!("git-aiflow/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                AiError::new(ErrorKind::Config, "could not set up the HTTP client").caused_by(&e)
            })?;
        Ok(Http {
            client,
            provider,
            model: model.to_string(),
            retries: settings.retries,
            timeout: settings.timeout,
        })
    }

    /// POST `body` as JSON to `url` with `headers`, retrying what is worth retrying. (Whatever
    /// a server echoes back of the key is redacted where every provider's errors pass, in
    /// [`super::provider`].)
    pub(crate) fn post_json(
        &self,
        url: &str,
        headers: &[(&str, String)],
        body: &serde_json::Value,
    ) -> Result<Answer, AiError> {
        let start = Instant::now();
        let _spinner = Spinner::start(format!("waiting for {} ({})", self.provider, self.model));
        let mut attempt = 0;
        loop {
            let mut request = self.client.post(url).json(body);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            let result = request.send();
            let response = match result {
                Ok(r) => r,
                // A connection reset or closed before the answer (a restarting server, a proxy
                // dropping an idle connection) is worth another try; a refused connection or a
                // timeout is not: the next attempt would only take as long.
                Err(e) if !e.is_timeout() && !e.is_connect() && attempt < self.retries => {
                    std::thread::sleep(backoff(attempt));
                    attempt += 1;
                    continue;
                }
                Err(e) => return Err(self.transport(url, &e)),
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(parse_retry_after);
            let bytes = match response.bytes() {
                Ok(b) => b,
                Err(e) if e.is_timeout() => {
                    return Err(self.timed_out(url));
                }
                Err(e) => {
                    return Err(AiError::new(
                        ErrorKind::Transport,
                        format!(
                            "the reply from {} at {url} was cut off (HTTP {status})",
                            self.provider
                        ),
                    )
                    .caused_by(&e)
                    .hint(
                        "the server closed the connection before the end of its answer; try again",
                    ));
                }
            };
            let text = String::from_utf8_lossy(&bytes).into_owned();
            if (200..300).contains(&status) {
                let json = serde_json::from_str(&text).map_err(|e| {
                    AiError::new(
                        ErrorKind::Answer,
                        format!(
                            "the reply from {} at {url} is not JSON ({e})",
                            self.provider
                        ),
                    )
                    .cause(excerpt(&text))
                    .hint("check that aiflow.baseUrl points at the API, not at a web page")
                    .raw(text.clone())
                })?;
                return Ok(Answer {
                    json,
                    duration: start.elapsed(),
                });
            }
            let transient = matches!(status, 408 | 409 | 429 | 500 | 502 | 503 | 504 | 529);
            if transient && attempt < self.retries {
                let wait = retry_after.unwrap_or_else(|| backoff(attempt));
                if wait > MAX_RETRY_AFTER {
                    return Err(self.status_error(url, status, &text).hint(format!(
                        "the server asks to wait {} s before trying again",
                        wait.as_secs()
                    )));
                }
                std::thread::sleep(wait);
                attempt += 1;
                continue;
            }
            let mut err = self.status_error(url, status, &text);
            if transient && attempt > 0 {
                err = err.hint(format!(
                    "gave up after {} attempts (aiflow.retries = {})",
                    attempt + 1,
                    self.retries
                ));
            }
            return Err(err);
        }
    }

    fn timed_out(&self, url: &str) -> AiError {
        AiError::new(
            ErrorKind::Transport,
            format!(
                "{} at {url} did not answer within {} s (model {})",
                self.provider,
                self.timeout.as_secs(),
                self.model
            ),
        )
        .hint("raise the limit with --timeout SECONDS or `git config aiflow.timeout SECONDS`, or check that the server is running")
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> AiError {
        if e.is_timeout() {
            return self.timed_out(url);
        }
        let message = if e.is_connect() {
            format!("could not connect to {} at {url}", self.provider)
        } else {
            format!("the request to {} at {url} failed", self.provider)
        };
        AiError::new(ErrorKind::Transport, message)
            .caused_by(e)
            .hint("check aiflow.baseUrl, the network, and any HTTPS_PROXY setting")
    }

    fn status_error(&self, url: &str, status: u16, body: &str) -> AiError {
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let detail = server_message(body);
        let (kind, what, hint) = match status {
            401 | 403 => (
                ErrorKind::Rejected,
                "refused the request",
                format!(
                    "check the API key in the environment variable the provider reads ({}), and that it may use model `{}`",
                    match self.provider {
                        "anthropic" => "ANTHROPIC_API_KEY, or the one aiflow.apiKeyEnv names",
                        _ => "OPENAI_API_KEY, or the one aiflow.apiKeyEnv names",
                    },
                    self.model
                ),
            ),
            404 => (
                ErrorKind::Rejected,
                "has no such endpoint or model",
                "check aiflow.baseUrl (OpenAI-compatible servers usually end in /v1) and aiflow.model"
                    .to_string(),
            ),
            _ => (
                ErrorKind::Transport,
                "failed",
                "try again later, or check the server's logs".to_string(),
            ),
        };
        let mut err = AiError::new(
            kind,
            format!(
                "{} at {url} {what}: HTTP {status} {reason} (model {})",
                self.provider, self.model
            ),
        )
        .hint(hint);
        err.causes.extend(detail);
        err.status = Some(status);
        err
    }
}

/// The server's own explanation: `error.message` (OpenAI and Anthropic), else the start of the
/// body.
fn server_message(body: &str) -> Option<String> {
    if body.trim().is_empty() {
        return None;
    }
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("message"))
            .or_else(|| v.get("error"))
            .and_then(|m| m.as_str());
        if let Some(m) = msg {
            return Some(excerpt(m));
        }
    }
    Some(excerpt(body))
}

/// At most 400 characters of `text`, on one line.
pub(crate) fn excerpt(text: &str) -> String {
    let one_line: String = text
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one_line.chars().count() > 400 {
        let cut: String = one_line.chars().take(400).collect();
        format!("{cut}…")
    } else {
        one_line
    }
}

/// 0.5 s, 1 s, 2 s, … with up to 25 % jitter, capped at 30 s.
fn backoff(attempt: u32) -> Duration {
    let base = 500u64.saturating_mul(1 << attempt.min(6)).min(30_000);
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    Duration::from_millis(base + nanos % (base / 4 + 1))
}

/// `Retry-After`: seconds, or an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = value.parse::<f64>()
        && secs.is_finite()
        && secs >= 0.0
    {
        return Some(Duration::from_secs_f64(secs.min(1e6)));
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs() as i64;
    Some(Duration::from_secs((at - now).max(0) as u64))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    if parts.len() != 5 || parts[4] != "GMT" {
        return None;
    }
    let day: i64 = parts[0].parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == parts[1])? as i64
        + 1;
    let year: i64 = parts[2].parse().ok()?;
    let hms: Vec<i64> = parts[3]
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

/// How often a progress line is printed while waiting with standard error not a terminal.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// The progress interval: [`PROGRESS_EVERY`], or `AIFLOW_PROGRESS_INTERVAL_MS` (undocumented, so
/// that tests need not wait ten seconds).
fn progress_every() -> Duration {
    std::env::var("AIFLOW_PROGRESS_INTERVAL_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(PROGRESS_EVERY)
}

/// Progress on stderr while waiting for a model: on a terminal (not `TERM=dumb`), a spinner with the elapsed time
/// that clears its line when dropped; otherwise (scripts, CI, a log file) a line every
/// [`PROGRESS_EVERY`], as git reports progress there (`waiting for openai (gpt-4o): 20 s`), so
/// that a long call is never silent. Nothing in an in-process run ([`crate::term::detach`]).
pub(crate) struct Spinner {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    /// Start showing progress with `label`.
    pub(crate) fn start(label: String) -> Spinner {
        Self::begin(label, true)
    }

    /// Progress for a child that shares our terminal (an agent, whose own output and prompts
    /// must not be drawn over): nothing on a terminal, the periodic lines elsewhere.
    pub(crate) fn lines_only(label: String) -> Spinner {
        Self::begin(label, false)
    }

    fn begin(label: String, may_redraw: bool) -> Spinner {
        let stop = Arc::new(AtomicBool::new(false));
        if !crate::term::attached() {
            return Spinner { stop, thread: None };
        }
        let flag = stop.clone();
        // A dumb terminal cannot redraw a line: it gets the lines a log gets.
        let terminal =
            crate::term::stderr() && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        if terminal && !may_redraw {
            return Spinner { stop, thread: None };
        }
        let redraw = terminal;
        let thread = if redraw {
            std::thread::spawn(move || spin(&label, &flag))
        } else {
            let every = progress_every();
            std::thread::spawn(move || report(&label, &flag, every))
        };
        Spinner {
            stop,
            thread: Some(thread),
        }
    }
}

/// The terminal spinner, redrawn every 100 ms until `stop`.
fn spin(label: &str, stop: &AtomicBool) {
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let start = Instant::now();
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let secs = start.elapsed().as_secs_f64();
        let mut err = std::io::stderr().lock();
        let _ = write!(
            err,
            "\r\x1b[2K{} {label} {secs:.1}s",
            frames[i % frames.len()]
        );
        let _ = err.flush();
        drop(err);
        i += 1;
        std::thread::park_timeout(Duration::from_millis(100));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(err, "\r\x1b[2K");
    let _ = err.flush();
}

/// A line every `every` until `stop`: `label: N s`.
fn report(label: &str, stop: &AtomicBool, every: Duration) {
    let start = Instant::now();
    let mut next = every;
    loop {
        let now = start.elapsed();
        if now < next {
            std::thread::park_timeout(next - now);
        }
        if stop.load(Ordering::Relaxed) {
            return;
        }
        if start.elapsed() < next {
            continue; // woken early, not stopped
        }
        let shown = if every >= Duration::from_secs(1) {
            format!("{} s", start.elapsed().as_secs())
        } else {
            format!("{:.1} s", start.elapsed().as_secs_f64())
        };
        // Never a panic on a closed stderr.
        let _ = writeln!(std::io::stderr(), "{label}: {shown}");
        next += every;
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("0.5"), Some(Duration::from_millis(500)));
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) >= Duration::from_millis(500));
        assert!(backoff(0) <= Duration::from_millis(626));
        assert!(backoff(3) >= Duration::from_secs(4));
        assert!(backoff(20) <= Duration::from_millis(37_501));
    }
}

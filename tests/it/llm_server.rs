//! A scripted HTTP/1.1 server standing in for a model provider: it answers each request with the
//! next step of its script and records what it was sent. Std only; it listens on 127.0.0.1:0 and
//! never touches the network beyond the loopback.
//!
//! Every connection gets one response and is then closed (`Connection: close`). Requests are
//! read and recorded in the order they arrive; the answer is written from a thread of its own so
//! that a hanging step does not hold back the next connection. Once the script is exhausted,
//! every further request gets `500` with a body saying `script exhausted`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What the server does with one request.
#[derive(Debug, Clone)]
pub enum Step {
    /// Answer with this status, these extra headers and this body (`Content-Length` is set).
    Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Read the request, send nothing for this long (or until the server stops), then close.
    Hang(Duration),
    /// Wait this long (a slow model), then do the step.
    Late(Duration, Box<Step>),
    /// Read the request line and headers only, record the request with an empty body, and close
    /// with the body still unread: the kernel answers with a TCP reset.
    Reset,
    /// Send the status line and headers declaring `declared_len` bytes of body, send only
    /// `body_prefix`, then close.
    Truncated {
        status: u16,
        body_prefix: String,
        declared_len: usize,
    },
}

impl Step {
    /// A reply with a JSON body.
    pub fn json(status: u16, body: impl Into<String>) -> Step {
        Step::Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.into(),
        }
    }

    /// A reply with a plain-text body.
    pub fn text(status: u16, body: impl Into<String>) -> Step {
        Step::Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.into(),
        }
    }

    /// A `200` OpenAI chat.completion whose message content is `content`.
    pub fn openai(content: &str) -> Step {
        Step::json(200, openai_body(content, "stop", 1200, 340))
    }

    /// A `200` Anthropic message whose text is `content`.
    pub fn anthropic(content: &str) -> Step {
        Step::json(200, anthropic_body(content, "end_turn", 1200, 340))
    }

    /// The same step with one more response header (only for `Reply`).
    pub fn with_header(mut self, name: &str, value: &str) -> Step {
        if let Step::Reply { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }
}

/// An OpenAI chat.completion body, in the real wire format.
pub fn openai_body(
    content: &str,
    finish_reason: &str,
    prompt_tokens: u64,
    completion_tokens: u64,
) -> String {
    serde_json::json!({
        "id": "chatcmpl-test0001",
        "object": "chat.completion",
        "created": 1_767_225_600u64,
        "model": "test-model-2026-01-01",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
        "system_fingerprint": "fp_test",
    })
    .to_string()
}

/// An Anthropic message body, in the real wire format.
pub fn anthropic_body(
    text: &str,
    stop_reason: &str,
    input_tokens: u64,
    output_tokens: u64,
) -> String {
    serde_json::json!({
        "id": "msg_test0001",
        "type": "message",
        "role": "assistant",
        "model": "test-model-2026-01-01",
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    })
    .to_string()
}

/// Replace the model's content of a recorded wire reply (a fixture body), keeping the rest.
pub fn with_content(wire: &str, content: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(wire).expect("wire reply is JSON");
    if let Some(choices) = v.get_mut("choices") {
        choices[0]["message"]["content"] = content.into();
    } else {
        v["content"][0]["text"] = content.into();
    }
    v.to_string()
}

/// The model's content inside a recorded wire reply.
pub fn content_of(wire: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(wire).expect("wire reply is JSON");
    let c = if v.get("choices").is_some() {
        &v["choices"][0]["message"]["content"]
    } else {
        &v["content"][0]["text"]
    };
    c.as_str().expect("content is a string").to_string()
}

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Header names lowercased, values as sent, in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Recorded {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("request body is not JSON ({e}):\n{}", self.body))
    }

    /// The whole request as text (for "never contains" checks and failure messages).
    pub fn dump(&self) -> String {
        let mut s = format!("{} {}\n", self.method, self.path);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push('\n');
        s.push_str(&self.body);
        s
    }
}

/// A running scripted server; dropping it stops it.
pub struct LlmServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    thread: Option<JoinHandle<()>>,
}

impl LlmServer {
    /// Listen on 127.0.0.1 (a free port) and answer requests with `script`, in order.
    pub fn start(script: Vec<Step>) -> LlmServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stop = stop.clone();
            let requests = requests.clone();
            std::thread::spawn(move || serve(listener, script, stop, requests))
        };
        LlmServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// What was received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().expect("requests lock").clone()
    }
}

impl Drop for LlmServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Unblock `accept`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(
    listener: TcpListener,
    script: Vec<Step>,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Recorded>>>,
) {
    let mut script = script.into_iter();
    let mut handlers = Vec::new();
    for conn in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
        let reset = matches!(script.as_slice().first(), Some(Step::Reset));
        // For a reset, read byte by byte so that the body stays in the kernel's buffer.
        let mut reader = BufReader::with_capacity(
            if reset { 1 } else { 8192 },
            match stream.try_clone() {
                Ok(s) => s,
                Err(_) => continue,
            },
        );
        let Some(req) = read_request(&mut reader, !reset) else {
            // A connection that sent nothing usable (or the stop poke): no script step used.
            continue;
        };
        requests.lock().expect("requests lock").push(req);
        let step = script.next().unwrap_or_else(|| {
            Step::text(
                500,
                "script exhausted: the test server got more requests than it was scripted for",
            )
        });
        let stop = stop.clone();
        handlers.push(std::thread::spawn(move || respond(stream, step, &stop)));
    }
    for h in handlers {
        let _ = h.join();
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn head(status: u16, headers: &[(String, String)], len: usize) -> String {
    let mut h = format!("HTTP/1.1 {status} {}\r\n", reason(status));
    for (k, v) in headers {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h.push_str(&format!(
        "Content-Length: {len}\r\nConnection: close\r\n\r\n"
    ));
    h
}

fn respond(mut stream: TcpStream, step: Step, stop: &AtomicBool) {
    let step = match step {
        Step::Late(d, then) => {
            let until = Instant::now() + d;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            *then
        }
        other => other,
    };
    match step {
        Step::Reply {
            status,
            headers,
            body,
        } => {
            let _ = stream.write_all(head(status, &headers, body.len()).as_bytes());
            let _ = stream.write_all(body.as_bytes());
            let _ = stream.flush();
        }
        Step::Reset => {
            // Dropping the stream with unread input makes the kernel send RST, not FIN.
            drop(stream);
            return;
        }
        Step::Hang(d) => {
            let until = Instant::now() + d;
            while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Step::Late(..) => {}
        Step::Truncated {
            status,
            body_prefix,
            declared_len,
        } => {
            let headers = [("Content-Type".to_string(), "application/json".to_string())];
            let _ = stream.write_all(head(status, &headers, declared_len).as_bytes());
            let _ = stream.write_all(body_prefix.as_bytes());
            let _ = stream.flush();
        }
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// Read one request: the request line, headers, and a `Content-Length` or chunked body.
fn read_request(r: &mut impl BufRead, with_body: bool) -> Option<Recorded> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if !with_body {
        // Leave the body unread.
    } else if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            if size == 0 {
                // Trailers, up to the empty line.
                loop {
                    let mut t = String::new();
                    if r.read_line(&mut t).ok()? == 0 || t.trim().is_empty() {
                        break;
                    }
                }
                break;
            }
            let mut chunk = vec![0; size];
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk);
            let mut crlf = [0; 2];
            r.read_exact(&mut crlf).ok()?;
        }
    } else if let Some(len) = get("content-length") {
        let len: usize = len.parse().ok()?;
        body = vec![0; len];
        r.read_exact(&mut body).ok()?;
    }
    Some(Recorded {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Send a raw request and read the whole answer until the server closes.
    fn raw(url_addr: &str, request: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(url_addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(request.as_bytes())?;
        let mut out = Vec::new();
        s.read_to_end(&mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn addr(server: &LlmServer) -> String {
        server.url().trim_start_matches("http://").to_string()
    }

    #[test]
    fn server_replies_in_script_order_and_records_requests() {
        let server = LlmServer::start(vec![
            Step::json(200, r#"{"ok":true}"#).with_header("X-Test", "1"),
            Step::text(429, "slow down").with_header("Retry-After", "1"),
        ]);
        let a = addr(&server);
        let body = r#"{"model":"m"}"#;
        let first = raw(
            &a,
            &format!(
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        )
        .expect("first request");
        assert!(first.starts_with("HTTP/1.1 200 OK\r\n"), "{first}");
        assert!(first.contains("X-Test: 1\r\n"), "{first}");
        assert!(first.contains("Content-Length: 11\r\n"), "{first}");
        assert!(first.contains("Connection: close\r\n"), "{first}");
        assert!(first.ends_with("\r\n\r\n{\"ok\":true}"), "{first}");

        // A chunked body is read whole.
        let second = raw(
            &a,
            "POST /v1/messages HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\
             3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("second request");
        assert!(second.starts_with("HTTP/1.1 429 "), "{second}");
        assert!(second.contains("Retry-After: 1\r\n"), "{second}");

        let third = raw(&a, "GET /more HTTP/1.1\r\n\r\n").expect("third request");
        assert!(third.starts_with("HTTP/1.1 500 "), "{third}");
        assert!(third.contains("script exhausted"), "{third}");

        let reqs = server.requests();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[0].method, "POST");
        assert_eq!(reqs[0].path, "/v1/chat/completions");
        assert_eq!(reqs[0].header("Authorization"), Some("Bearer k"));
        assert_eq!(reqs[0].json()["model"], "m");
        assert_eq!(reqs[1].path, "/v1/messages");
        assert_eq!(reqs[1].body, "abcde");
        assert_eq!(reqs[2].method, "GET");
    }

    #[test]
    fn server_truncates_and_hangs() {
        let server = LlmServer::start(vec![
            Step::Truncated {
                status: 200,
                body_prefix: r#"{"id":"chatcmpl-"#.into(),
                declared_len: 500,
            },
            Step::Hang(Duration::from_secs(30)),
        ]);
        let a = addr(&server);
        let out = raw(&a, "POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").expect("truncated");
        assert!(out.contains("Content-Length: 500\r\n"), "{out}");
        assert!(out.ends_with(r#"{"id":"chatcmpl-"#), "{out}");

        // The hanging connection answers nothing within a short read timeout.
        let mut s = TcpStream::connect(&a).expect("connect");
        s.write_all(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
            .expect("write");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let mut buf = [0; 16];
        // A signal to this (shared, many-threaded) test process may interrupt the read.
        let r = loop {
            match s.read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        assert!(
            matches!(&r, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
            "{r:?}"
        );
        assert_eq!(server.requests().len(), 2);
        // Dropping the server ends the hang promptly (the test would otherwise last 30 s).
        drop(server);
    }

    #[test]
    fn server_resets() {
        let server = LlmServer::start(vec![Step::Reset]);
        let a = addr(&server);
        let body = "x".repeat(100_000);
        let r = raw(
            &a,
            &format!(
                "POST /r HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        match r {
            Err(e) => assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ),
                "{e:?}"
            ),
            Ok(out) => assert_eq!(out, "", "a reset sends nothing"),
        }
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, "/r");
        assert_eq!(reqs[0].body, "");
    }

    #[test]
    fn wire_helpers_round_trip_content() {
        let o = openai_body("{\"a\":1}", "length", 10, 5);
        assert_eq!(content_of(&o), "{\"a\":1}");
        let v: serde_json::Value = serde_json::from_str(&o).expect("json");
        assert_eq!(v["usage"]["total_tokens"], 15);
        assert_eq!(v["choices"][0]["finish_reason"], "length");
        let a = with_content(&anthropic_body("x", "end_turn", 1, 2), "y");
        assert_eq!(content_of(&a), "y");
    }
}

//! The HTTP client of pings and webhooks: one request with a bound on connecting and on
//! the whole exchange, no redirects followed, and at most [`MAX_ANSWER`] of the answer read.

use std::sync::OnceLock;
use std::time::Duration;

/// How much of an answer's body is read (and then dropped): pings and webhooks only need
/// the status, and a server that sends forever must not hold the run.
pub const MAX_ANSWER: usize = 64 << 10;
/// Connecting takes at most this long (and never longer than the request's own timeout).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A request to make.
pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    /// Extra headers ("Name", "value"); values may be secrets and are never logged.
    pub headers: &'a [(String, String)],
    pub content_type: Option<&'static str>,
    pub body: Vec<u8>,
    pub timeout: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// Why a request got no answer. Messages never hold the URL's query nor header values.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HttpError {
    #[error("invalid URL: {0}")]
    Url(String),
    #[error("invalid header `{0}`")]
    Header(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("{0}")]
    Other(String),
}

/// Makes `request` and returns the answer's status code.
pub async fn send(request: Request<'_>) -> Result<u16, HttpError> {
    let url = reqwest::Url::parse(request.url).map_err(|e| HttpError::Url(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(HttpError::Url(format!(
            "scheme `{}` (expected http or https)",
            url.scheme()
        )));
    }
    let client = client(url.scheme() == "https").map_err(|e| HttpError::Other(plain(e)))?;
    let method = match request.method {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
    };
    let mut builder = client.request(method, url).timeout(request.timeout);
    for (name, value) in request.headers {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| HttpError::Header(name.clone()))?;
        let value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| HttpError::Header(name.to_string()))?;
        builder = builder.header(name, value);
    }
    if let Some(content_type) = request.content_type {
        builder = builder.header(reqwest::header::CONTENT_TYPE, content_type);
    }
    if request.method == Method::Post {
        builder = builder.body(request.body);
    }
    let timeout = request.timeout;
    let exchange = async {
        let mut response = builder.send().await.map_err(|e| classify(e, timeout))?;
        let status = response.status().as_u16();
        let mut read = 0;
        while read < MAX_ANSWER {
            match response.chunk().await {
                Ok(Some(chunk)) => read += chunk.len(),
                Ok(None) => break,
                // The status has come; a body cut short does not change it.
                Err(_) => break,
            }
        }
        Ok(status)
    };
    // reqwest's timeout covers the body too; this one also covers a slow DNS answer.
    match tokio::time::timeout(timeout, exchange).await {
        Ok(answer) => answer,
        Err(_) => Err(HttpError::Timeout(timeout)),
    }
}

/// The client for plain HTTP (which loads no trust store) or for HTTPS (the system's
/// roots, like the SMTP client), built once per process. It keeps no idle connections: a
/// run sends a handful of requests, and a pooled connection would outlive its runtime.
fn client(tls: bool) -> Result<&'static reqwest::Client, reqwest::Error> {
    static PLAIN: OnceLock<reqwest::Client> = OnceLock::new();
    static TLS: OnceLock<reqwest::Client> = OnceLock::new();
    let cell = if tls { &TLS } else { &PLAIN };
    if let Some(client) = cell.get() {
        return Ok(client);
    }
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .pool_max_idle_per_host(0)
        .tls_built_in_root_certs(tls)
        .user_agent(concat!("reporter/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok(cell.get_or_init(|| client))
}

fn classify(error: reqwest::Error, timeout: Duration) -> HttpError {
    if error.is_timeout() {
        HttpError::Timeout(timeout)
    } else if error.is_connect() {
        HttpError::Connect(source_of(&error))
    } else {
        HttpError::Other(plain(error))
    }
}

/// The innermost cause: "Connection refused (os error 111)" rather than reqwest's wrapping.
fn source_of(error: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = error;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// reqwest's message without the URL it puts in (which may hold a secret key).
fn plain(error: reqwest::Error) -> String {
    let error = error.without_url();
    match std::error::Error::source(&error) {
        Some(source) => format!("{error}: {source}"),
        None => error.to_string(),
    }
}

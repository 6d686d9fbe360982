//! Posting a spooled webhook (docs/monitoring.md): `POST URL` with its JSON body and the
//! headers of its headers file. A 2xx answer is delivered; 408, 429, 5xx, timeouts and
//! connection errors leave it in the spool for the next retry (the last two also mark its
//! endpoint as not answering); any other answer is final.
//! Its body was composed with the job's report (`monitor::webhook`).

use std::path::Path;

use crate::config::trust;
use crate::deliver::spool::Hook;
use crate::deliver::transport::error::{DeliveryError, Failure};
use crate::http::{self, HttpError, Method, Request};

/// Posts `hook`. The error never holds the URL nor a header value (both may be secrets).
pub async fn post(hook: &Hook) -> Result<(), DeliveryError> {
    let headers = match &hook.headers_file {
        Some(path) => read_headers(path).map_err(DeliveryError::transient)?,
        None => Vec::new(),
    };
    let answer = http::send(Request {
        method: Method::Post,
        url: &hook.url,
        headers: &headers,
        content_type: Some("application/json"),
        body: hook.body.clone(),
        timeout: hook.timeout,
    })
    .await;
    match answer {
        Ok(status) if (200..300).contains(&status) => Ok(()),
        Ok(status @ (408 | 429 | 500..)) => Err(DeliveryError::transient(format!(
            "the webhook answered {status}"
        ))),
        Ok(status) => Err(DeliveryError {
            kind: Failure::Permanent,
            message: format!("the webhook answered {status}"),
        }),
        Err(e @ HttpError::Url(_)) | Err(e @ HttpError::Header(_)) => Err(DeliveryError {
            kind: Failure::Permanent,
            message: e.to_string(),
        }),
        // Its endpoint could not be reached: the webhooks after it to the same one wait.
        Err(e @ (HttpError::Connect(_) | HttpError::Timeout(_))) => {
            Err(DeliveryError::connection(e.to_string()))
        }
        Err(e) => Err(DeliveryError::transient(e.to_string())),
    }
}

/// The "Name: value" lines of a headers file (mode 0600 or 0400, as root owned by root;
/// checked on the opened file). Blank lines and `#` comments are skipped.
pub fn read_headers(path: &Path) -> Result<Vec<(String, String)>, String> {
    let text = trust::read_password(path).map_err(|e| format!("headers_file: {e}"))?;
    parse_headers(&text).map_err(|line| {
        format!(
            "headers_file: `{}` line {line}: expected `Name: value`",
            path.display()
        )
    })
}

/// The headers of a headers file's text; `Err(line number)` for a line that is not one.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, usize> {
    let mut headers = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, value) = line.split_once(':').ok_or(index + 1)?;
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(index + 1);
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lines() {
        assert_eq!(
            parse_headers("# token\nAuthorization: Bearer a:b\n\nX-Tag:  x \n"),
            Ok(vec![
                ("Authorization".into(), "Bearer a:b".into()),
                ("X-Tag".into(), "x".into())
            ])
        );
        assert_eq!(parse_headers("Authorization Bearer\n"), Err(1));
        assert_eq!(parse_headers("ok: 1\nbad name: 2\n"), Err(2));
    }
}

//! Posting a spooled webhook (docs/monitoring.md): `POST URL` with its JSON body and the
//! headers of its headers file. A 2xx answer is delivered; 408, 429, 5xx, timeouts and
//! connection errors leave it in the spool for the next retry (the last two also mark its
//! endpoint as not answering); any other answer is final.
//! Its body was composed with the job's report (`monitor::webhook`).

use std::path::Path;

use crate::config::headers;
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

/// The "Name: value" lines of a headers file ([`headers::read`]), its problem named as
/// the key it comes from.
fn read_headers(path: &Path) -> Result<Vec<(String, String)>, String> {
    headers::read(path).map_err(|e| format!("headers_file: {e}"))
}

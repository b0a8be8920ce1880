//! `POST /attachments` and `GET /attachments/{id}`: the files a ticket's messages refer to.
//!
//! A file is uploaded on its own, as the raw request body with its type in `Content-Type` and
//! its name in `X-File-Name` (or `?fileName=`), checked by `domain::attachment`, and stored,
//! immutable, beside the event log. Commands then refer to it by the id the upload answers.
//! The 64 KiB limit of command bodies does not apply here; [`MAX_SIZE`] does.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use domain::attachment::{self, MAX_SIZE};
use eventlog::AttachmentInfo;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{ApiError, CommandApi};

/// Beyond the limit, how much of a body is still read (and dropped) before answering 413, so
/// that a client still sending is not cut off mid-request and does see the answer.
const DRAIN_LIMIT: usize = 4 * MAX_SIZE;

pub(crate) fn routes() -> Router<Arc<CommandApi>> {
    Router::new().route("/attachments", post(upload)).route("/attachments/{id}", get(download))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct UploadParameters {
    file_name: Option<String>,
}

/// The answer to an upload: what a command's `attachments` list refers to.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Uploaded {
    id: Uuid,
    sha256: String,
    size: i64,
    content_type: String,
    file_name: String,
}

#[tracing::instrument(skip_all)]
async fn upload(
    State(api): State<Arc<CommandApi>>,
    parameters: Result<Query<UploadParameters>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match store(&api, &headers, parameters, body).await {
        Ok(uploaded) => (StatusCode::CREATED, axum::Json(uploaded)).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn store(
    api: &CommandApi,
    headers: &HeaderMap,
    parameters: Result<Query<UploadParameters>, QueryRejection>,
    body: Body,
) -> Result<Uploaded, ApiError> {
    // Anyone signed in may upload; the file is theirs (and the operator's) to use and fetch.
    let caller = api.authenticate(headers).await?;
    if caller.must_change_password {
        return Err(ApiError::Forbidden(
            "the password an administrator set must be changed first".to_owned(),
        ));
    }
    let actor = caller.actor;
    let Query(parameters) =
        parameters.map_err(|rejection| ApiError::invalid_field("fileName", rejection.body_text()))?;
    let bytes = read_limited(headers, body).await?;
    let content_type = header_text(headers, header::CONTENT_TYPE.as_str(), "Content-Type")?;
    let file_name = match parameters.file_name {
        Some(name) => Some(name),
        None => header_text(headers, "x-file-name", "X-File-Name")?,
    };
    let checked = attachment::check(content_type.as_deref(), file_name.as_deref(), &bytes)?;
    let info = AttachmentInfo {
        id: Uuid::now_v7(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        content_type: checked.content_type,
        file_name: checked.file_name,
        size: i64::try_from(bytes.len()).map_err(|_| ApiError::Internal)?,
        uploaded_at: Utc::now(),
        uploaded_by: actor,
    };
    eventlog::put_attachment(&api.aggregates.database, &info, &bytes).await?;
    Ok(Uploaded {
        id: info.id,
        sha256: info.sha256,
        size: info.size,
        content_type: info.content_type,
        file_name: info.file_name,
    })
}

/// The body, or 413 when it is larger than [`MAX_SIZE`].
async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = ApiError::PayloadTooLarge { limit: MAX_SIZE };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<usize>().ok());
    if declared.is_some_and(|length| length > DRAIN_LIMIT) {
        return Err(too_large);
    }
    let mut stream = body.into_data_stream();
    let mut bytes = Vec::with_capacity(declared.unwrap_or_default().min(MAX_SIZE));
    let mut received = 0usize;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            ApiError::invalid_field("file", format!("the body could not be read: {error}"))
        })?;
        received = received.saturating_add(chunk.len());
        if received <= MAX_SIZE {
            bytes.extend_from_slice(&chunk);
        } else if received > DRAIN_LIMIT {
            break;
        }
    }
    if received > MAX_SIZE {
        return Err(too_large);
    }
    Ok(bytes)
}

/// A header's value as text (UTF-8 allowed), if it is sent; `display` names it in errors.
fn header_text(headers: &HeaderMap, name: &str, display: &'static str) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(name) else { return Ok(None) };
    String::from_utf8(value.as_bytes().to_vec())
        .map(Some)
        .map_err(|_| ApiError::InvalidHeader { header: display, problem: "must be UTF-8 text".to_owned() })
}

#[tracing::instrument(skip_all, fields(id = %id))]
async fn download(
    State(api): State<Arc<CommandApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match fetch(&api, &id, &headers).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn fetch(api: &CommandApi, id: &str, headers: &HeaderMap) -> Result<Response, ApiError> {
    let caller = api.authenticate(headers).await?;
    let not_found =
        || ApiError::NotFound { what: "attachment".to_owned(), field: "id".to_owned(), id: id.to_owned() };
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let stored = eventlog::get_attachment(&api.aggregates.database, id).await?.ok_or_else(not_found)?;
    // A user fetches the files they uploaded; anyone else's answers like a file that is not there.
    if caller.actor.kind != domain::ActorKind::Operator && stored.info.uploaded_by.id != caller.actor.id {
        return Err(not_found());
    }
    let info = stored.info;
    let content_type = HeaderValue::from_str(&info.content_type).map_err(|_| ApiError::Internal)?;
    let disposition =
        HeaderValue::from_str(&content_disposition(&info.file_name)).map_err(|_| ApiError::Internal)?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", info.sha256)).map_err(|_| ApiError::Internal)?;
    let mut response = (StatusCode::OK, stored.bytes).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, content_type);
    response_headers.insert(header::CONTENT_DISPOSITION, disposition);
    response_headers.insert(header::ETAG, etag);
    // Served as a download of exactly the stored type, never rendered as something else.
    response_headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response_headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable"));
    Ok(response)
}

/// `attachment; filename="…"` with an ASCII stand-in, plus the exact name in RFC 5987 form
/// (`filename*=UTF-8''…`) when it is not plain ASCII.
fn content_disposition(file_name: &str) -> String {
    let ascii: String = file_name
        .chars()
        .map(|c| if (c.is_ascii_graphic() && c != '"' && c != '\\') || c == ' ' { c } else { '_' })
        .collect();
    if ascii == file_name {
        return format!("attachment; filename=\"{ascii}\"");
    }
    let encoded: String = file_name
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn file_names_in_content_disposition_are_quoted_safely() {
        assert_eq!(content_disposition("report 2025.pdf"), "attachment; filename=\"report 2025.pdf\"");
        assert_eq!(
            content_disposition("say \"hi\".txt"),
            "attachment; filename=\"say _hi_.txt\"; filename*=UTF-8''say%20%22hi%22.txt"
        );
        assert_eq!(
            content_disposition("Relevé.csv"),
            "attachment; filename=\"Relev_.csv\"; filename*=UTF-8''Relev%C3%A9.csv"
        );
    }
}

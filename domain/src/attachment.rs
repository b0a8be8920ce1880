//! Files a customer attaches to a support ticket: which may be uploaded, and the reference a
//! ticket's events keep to one.
//!
//! A file is uploaded on its own first and stored, immutable, by the caller; a ticket's events
//! then carry an [`AttachmentRef`]: the upload's id with its name, type, size and SHA-256, so
//! the audit trail can tell (and verify) exactly which bytes were attached.
//!
//! The rules, checked by [`check`] on the upload's declared type, name and bytes:
//! - at most [`MAX_SIZE`] bytes, and not empty;
//! - one of [`CONTENT_TYPES`], and the bytes must be what the type says: the signature of a
//!   PNG, JPEG, GIF or PDF, valid UTF-8 for the text types;
//! - a file name of 1 to 255 characters with no `/`, `\` or control characters.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::DomainError;
use crate::validate::Problems;

/// The largest file accepted: 5 MiB.
pub const MAX_SIZE: usize = 5 * 1024 * 1024;
/// The longest file name, in characters.
pub const MAX_FILE_NAME: usize = 255;
/// The content types accepted, as declared by the uploader (parameters such as `charset` aside).
pub const CONTENT_TYPES: [&str; 6] =
    ["image/png", "image/jpeg", "image/gif", "application/pdf", "text/plain", "text/csv"];

/// An uploaded file as a ticket's events refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentRef {
    pub id: Uuid,
    pub file_name: String,
    pub content_type: String,
    /// In bytes.
    pub size: u64,
    /// The SHA-256 of the bytes, lower-case hex.
    pub sha256: String,
}

/// What an accepted upload is stored as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    /// The declared type without parameters, lower-cased: one of [`CONTENT_TYPES`].
    pub content_type: String,
    /// The file name, trimmed.
    pub file_name: String,
}

/// Checks an upload; every problem is named: `file` (the bytes), `contentType`, `fileName`.
pub fn check(
    content_type: Option<&str>,
    file_name: Option<&str>,
    bytes: &[u8],
) -> Result<Checked, DomainError> {
    let mut problems = Problems::default();
    if bytes.is_empty() {
        problems.add("file", "must not be empty");
    } else if bytes.len() > MAX_SIZE {
        problems.add("file", format!("must be at most {MAX_SIZE} bytes"));
    }
    let content_type = content_type.map(essence).unwrap_or_default();
    if content_type.is_empty() {
        problems.add("contentType", "is required: send the file's type as the Content-Type header");
    } else if !CONTENT_TYPES.contains(&content_type.as_str()) {
        problems.add("contentType", format!("must be one of {}", CONTENT_TYPES.join(", ")));
    } else if !bytes.is_empty()
        && let Some(problem) = mismatch(&content_type, bytes)
    {
        problems.add("contentType", problem);
    }
    let file_name = file_name.map(str::trim).unwrap_or_default();
    if file_name.is_empty() {
        problems.add("fileName", "is required: send it as the X-File-Name header or the fileName parameter");
    } else if file_name.chars().count() > MAX_FILE_NAME {
        problems.add("fileName", format!("must be at most {MAX_FILE_NAME} characters"));
    } else if file_name.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
        problems.add("fileName", "must not contain '/', '\\' or control characters");
    }
    problems.into_result()?;
    Ok(Checked { content_type, file_name: file_name.to_owned() })
}

/// `Text/Plain; charset=utf-8` → `text/plain`.
fn essence(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// Why the bytes are not of the declared (allowed) type, if they are not.
fn mismatch(content_type: &str, bytes: &[u8]) -> Option<String> {
    let signature: &[&[u8]] = match content_type {
        "image/png" => &[b"\x89PNG\r\n\x1a\n"],
        "image/jpeg" => &[b"\xff\xd8\xff"],
        "image/gif" => &[b"GIF87a", b"GIF89a"],
        "application/pdf" => &[b"%PDF-"],
        _ => {
            return std::str::from_utf8(bytes)
                .err()
                .map(|_| format!("the file is declared {content_type} but is not valid UTF-8 text"));
        }
    };
    if signature.iter().any(|start| bytes.starts_with(start)) {
        None
    } else {
        Some(format!("the file is declared {content_type} but its bytes are not of that type"))
    }
}

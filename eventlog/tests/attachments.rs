//! Attachment storage, run against every adapter: what is stored reads back byte for byte,
//! and the database keeps a stored file from changing.

use chrono::{SubsecRound, Utc};
use domain::{Actor, ActorKind};
use eventlog::testing::TestDatabase;
use eventlog::{AttachmentInfo, Database, describe_attachments, get_attachment, put_attachment};
use uuid::Uuid;

fn info(bytes: &[u8], file_name: &str, uploaded_by: Actor) -> AttachmentInfo {
    AttachmentInfo {
        id: Uuid::now_v7(),
        // Not the real digest: storage does not compute or check it, only its shape.
        sha256: format!("{:064x}", bytes.len()),
        content_type: "application/octet-stream".to_owned(),
        file_name: file_name.to_owned(),
        size: bytes.len() as i64,
        // Microseconds: what both backends keep.
        uploaded_at: Utc::now().trunc_subsecs(6),
        uploaded_by,
    }
}

async fn stored_files_read_back_exactly(db: &TestDatabase) {
    let database = &db.database;
    let large: Vec<u8> = (0..5 * 1024 * 1024).map(|n: u32| (n % 251) as u8).collect();
    let small = b"\x00\xffbinary\r\n".to_vec();
    let user = Actor { kind: ActorKind::User, id: Some(Uuid::now_v7()) };
    let large_info = info(&large, "Relevé (mars).pdf", Actor::operator());
    let small_info = info(&small, "x.bin", user);
    put_attachment(database, &large_info, &large).await.expect("store 5 MiB");
    put_attachment(database, &small_info, &small).await.expect("store a small file");

    let read = get_attachment(database, large_info.id).await.expect("read").expect("stored");
    assert_eq!(read.info, large_info);
    assert!(read.bytes == large, "5 MiB read back byte for byte");
    let read = get_attachment(database, small_info.id).await.expect("read").expect("stored");
    assert_eq!((read.info, read.bytes), (small_info.clone(), small.clone()));
    assert_eq!(get_attachment(database, Uuid::now_v7()).await.expect("read"), None);

    let unknown = Uuid::now_v7();
    let mut described =
        describe_attachments(database, &[small_info.id, unknown, large_info.id]).await.expect("describe");
    described.sort_by_key(|info| info.id);
    assert_eq!(described, vec![large_info.clone(), small_info.clone()], "the known ones, without bytes");
    assert_eq!(describe_attachments(database, &[]).await.expect("describe nothing"), vec![]);

    // The same id twice is refused; a size that is not the length of the bytes is refused.
    assert!(put_attachment(database, &small_info, &small).await.is_err());
    let mut lying = info(&small, "lie.bin", Actor::operator());
    lying.size += 1;
    assert!(put_attachment(database, &lying, &small).await.is_err());
    assert_eq!(get_attachment(database, lying.id).await.expect("read"), None);
}

async fn stored_files_never_change(db: &TestDatabase) {
    let database = &db.database;
    let bytes = b"original".to_vec();
    let stored = info(&bytes, "a.txt", Actor::operator());
    put_attachment(database, &stored, &bytes).await.expect("store");
    let refused = update(database, stored.id).await;
    assert!(refused.is_err(), "an update of an attachment went through");
    let read = get_attachment(database, stored.id).await.expect("read").expect("stored");
    assert_eq!(read.bytes, bytes);
}

async fn update(database: &Database, id: Uuid) -> Result<(), sqlx::Error> {
    let sql = "update attachments set file_name = 'changed.txt' where id = $1";
    match database {
        Database::Sqlite { write, .. } => sqlx::query(sql).bind(id).execute(write).await.map(drop),
        Database::Postgres(pool) => sqlx::query(sql).bind(id).execute(pool).await.map(drop),
    }
}

eventlog::on_every_backend!(stored_files_read_back_exactly, stored_files_never_change);

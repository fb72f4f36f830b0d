//! Importing into a real PostgreSQL: dedup by fingerprint, reject stores nothing, skip lists rows.

use futures::stream;
use ingest::{import_file, FileStore, ImportFailure, ImportSettings};
use serde_json::json;
use sources::OnError;
use uuid::Uuid;

const CSV: &str =
    "Id;Date;Amount;Currency;Ref\n1;31/12/2025;1.234,56;EUR;INV-1\n2;01/01/2026;-10,00;EUR;INV-2\n";

fn settings() -> ImportSettings {
    ImportSettings::parse(
        &json!({"format": "csv", "csv": {"delimiter": ";"},
                "mapping": {"id": "Id", "booking_date": "Date", "amount": "Amount", "currency": "Currency",
                            "reference": "Ref", "date_format": "%d/%m/%Y",
                            "decimal": {"decimal_separator": ",", "thousands_separator": "."}}}),
        "settings",
    )
    .unwrap()
}

async fn store(content: &str) -> ingest::StoredFile {
    let dir = std::env::temp_dir().join(testkit::unique_name("files"));
    let chunks = vec![Ok::<_, std::io::Error>(bytes::Bytes::from(
        content.to_string(),
    ))];
    FileStore::new(dir)
        .receive(stream::iter(chunks), 1 << 20)
        .await
        .unwrap()
}

async fn count(pool: &sqlx::PgPool, source: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM source_records WHERE source_id = $1")
        .bind(source)
        .fetch_one(pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_same_statement_twice_adds_nothing_the_second_time() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let source = Uuid::new_v4();
    let file = store(CSV).await;
    let first = import_file(&db.pool, source, &file, &settings(), OnError::Reject)
        .await
        .unwrap();
    assert_eq!(
        (first.records_read, first.records_added, first.duplicates),
        (2, 2, 0)
    );
    let again = import_file(&db.pool, source, &file, &settings(), OnError::Reject)
        .await
        .unwrap();
    assert_eq!((again.records_added, again.duplicates), (0, 2));
    assert_eq!(count(&db.pool, source).await, 2);
    let amount: String = sqlx::query_scalar(
        "SELECT amount::text FROM source_records WHERE source_id = $1 AND record_id = '1'",
    )
    .bind(source)
    .fetch_one(&db.pool)
    .await
    .unwrap();
    assert_eq!(amount, "1234.56");
}

#[tokio::test]
async fn a_rejected_file_stores_nothing_and_skip_lists_the_bad_rows() {
    let db = testkit::fresh_database().await;
    commands::migrations::migrate(&db.pool).await.unwrap();
    let source = Uuid::new_v4();
    let bad = store(&format!("{CSV}3;32/01/2026;5,00;EUR;INV-3\n")).await;
    match import_file(&db.pool, source, &bad, &settings(), OnError::Reject).await {
        Err(ImportFailure::Rejected(report)) => {
            assert_eq!(report.errors_total, 1);
            assert_eq!(report.errors[0].row, 4);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(count(&db.pool, source).await, 0);
    let skipped = import_file(&db.pool, source, &bad, &settings(), OnError::Skip)
        .await
        .unwrap();
    assert_eq!(
        (
            skipped.records_added,
            skipped.rows_skipped,
            skipped.errors[0].row
        ),
        (2, 1, 4)
    );
    assert_eq!(skipped.errors[0].column.as_deref(), Some("Date"));
}

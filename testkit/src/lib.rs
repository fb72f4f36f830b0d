//! Test support shared by the integration tests: a fresh PostgreSQL database per test (on the
//! server the test command ensures is running) and the address of the test Kafka broker.

use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use uuid::Uuid;

/// The server tests create their databases on. `scripts/test.sh` makes sure one is running.
pub fn server_url() -> String {
    std::env::var("RECON_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

/// A new, empty database with a unique name (prefix `recon_test_`; `scripts/test.sh` drops
/// leftovers before each run).
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    pub pool: PgPool,
}

pub async fn fresh_database() -> TestDatabase {
    let name = format!("recon_test_{}", Uuid::new_v4().simple());
    let server = server_url();
    let mut admin = PgConnection::connect(&format!("{server}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server (is it running? see scripts/test.sh)");
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .expect("create test database");
    let url = format!("{server}/{name}");
    let pool = PgPoolOptions::new()
        .max_connections(40)
        .connect(&url)
        .await
        .expect("connect to the test database");
    TestDatabase { name, url, pool }
}

/// The test Kafka broker (Tansu), started by `scripts/test.sh`. Integration tests that need a
/// broker fail, rather than skip, without one: a skipped test proves nothing.
pub fn kafka_brokers() -> String {
    std::env::var("KAFKA_BROKERS").expect(
        "KAFKA_BROKERS is not set: run the tests with scripts/test.sh, which starts the test broker",
    )
}

/// A topic / consumer-group name no other test uses.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", Uuid::new_v4().simple())
}

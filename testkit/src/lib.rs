//! Test support: fresh PostgreSQL databases and the test Kafka broker's address.

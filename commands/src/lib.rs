//! Recon's command side: the PostgreSQL event store (postgres-es), metadata, gap-safe store reading, migrations.

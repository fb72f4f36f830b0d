//! The HTTP API (actix-web): commands and queries under /api/v1, problem+json errors, health.

-- Read model: users as the admin list shows them (no credentials: those never leave
-- user_credentials).
CREATE TABLE rm_users
(
    user_id      uuid PRIMARY KEY,
    email        text        NOT NULL,
    role         text        NOT NULL,
    status       text        NOT NULL,
    locked_until timestamptz,
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX rm_users_by_email ON rm_users (email);

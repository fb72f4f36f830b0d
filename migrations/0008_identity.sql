-- Identity: what the User aggregate's events cannot hold (secrets) or cannot decide alone
-- (an address names one user). See docs/decisions/0010-identity-and-access.md.

-- An e-mail address names at most one user: claimed here before the user is created.
CREATE TABLE user_emails
(
    email      text PRIMARY KEY,
    user_id    uuid        NOT NULL UNIQUE,
    claimed_at timestamptz NOT NULL DEFAULT now()
);

-- Password hashes (argon2id PHC strings), one row per credential. Events name the credential
-- id only, so no secret reaches the event store, Kafka or an audit export. Rows are never
-- updated: a new password is a new credential.
CREATE TABLE user_credentials
(
    credential_id uuid PRIMARY KEY,
    user_id       uuid        NOT NULL,
    password_hash text        NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per address, kept for addresses no user has too, so that a lock says nothing
-- about whether an account exists. Reset by a successful sign-in.
CREATE TABLE login_failures
(
    email           text PRIMARY KEY,
    failures        integer     NOT NULL,
    last_failed_at  timestamptz NOT NULL,
    locked_until    timestamptz
);

-- Refresh tokens: only the SHA-256 of a token is stored. Each use rotates the token within its
-- family (one sign-in); presenting a used token again revokes the whole family.
CREATE TABLE refresh_tokens
(
    token_hash bytea PRIMARY KEY,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);

-- The key access tokens are signed with when none is configured: made once, shared by every
-- process of the deployment (they all read the same database).
CREATE TABLE auth_signing_keys
(
    name       text PRIMARY KEY,
    secret     bytea       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Read model: who belongs to which project (lists show operators and viewers their projects).
CREATE TABLE rm_project_members
(
    project_id uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    added_at   timestamptz NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX rm_project_members_by_user ON rm_project_members (user_id, project_id);

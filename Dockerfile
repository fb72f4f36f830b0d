# syntax=docker/dockerfile:1
# Recon: the `recon` binary (every role) in a small Debian image.
#   docker build -t recon .
#   docker run --rm -e DATABASE_URL=postgres://… -p 8080:8080 recon          # all roles in one process
#   docker run --rm -e DATABASE_URL=postgres://… -e KAFKA_BROKERS=… recon relay   # one role
# The image has no PostgreSQL server, so containers need DATABASE_URL (embedded mode's private
# cluster needs the PostgreSQL binaries, see docs/decisions/0002-embedded-mode.md).

# --- build ---------------------------------------------------------------------------------
FROM rust:1-bookworm AS build
# rdkafka builds librdkafka from source (./configure + make): it needs make, a C and C++
# compiler and zlib headers. The rust image has them already; listed so the build says what it needs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends make gcc g++ zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Cache the registry and target dir between builds (BuildKit); copy the binary out of the cache.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p recon \
 && cp target/release/recon /usr/local/bin/recon

# --- runtime -------------------------------------------------------------------------------
FROM debian:bookworm-slim
# ca-certificates: the usual trust store (note: this build of Recon has no TLS for PostgreSQL or
# Kafka connections yet); curl only for container health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 recon \
 && useradd --system --uid 10001 --gid recon --home-dir /var/lib/recon --create-home --shell /usr/sbin/nologin recon \
 && install -d -o recon -g recon /var/lib/recon/files
COPY --from=build /usr/local/bin/recon /usr/local/bin/recon
USER recon
WORKDIR /var/lib/recon
ENV RECON_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["recon"]

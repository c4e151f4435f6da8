# syntax=docker/dockerfile:1
# careid in a container: `docker build -t careid .`, then see docs/operations.md
# ("Docker"). Two stages: a Rust builder with the OpenSSL headers careid links against
# (native-tls for SMTP and outbound HTTPS, josekit), and a small Debian runtime.
# scripts/check-packaging checks that the package and binary named here exist.

ARG RUST_VERSION=1.94
FROM rust:${RUST_VERSION}-slim-trixie AS builder
# pkg-config finds OpenSSL; libssl-dev has its headers. SQLite is compiled in (bundled).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends pkg-config libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p careid-server --bin careid \
    && install -D -m 0755 target/release/careid /out/careid

FROM debian:trixie-slim AS runtime
# ca-certificates: SMTP STARTTLS and client JWKS fetches verify certificates.
# libssl3t64: the OpenSSL the binary was linked against.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3t64 \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 careid \
    && useradd --system --uid 10001 --gid careid --home-dir /var/lib/careid \
        --shell /usr/sbin/nologin careid \
    && install -d -o careid -g careid -m 0750 /var/lib/careid \
    && install -d -m 0755 /etc/careid/clients
COPY --from=builder /out/careid /usr/local/bin/careid
COPY themes /usr/share/careid/themes
COPY config/production.example.toml /etc/careid/careid.toml

# The production example listens on loopback (a reverse proxy beside it); in a
# container the proxy is outside, so listen on every interface. Set CAREID_ISSUER to the
# public https URL, and CAREID_KEK and the SMTP password from your secret store.
ENV CAREID_CONFIG=/etc/careid/careid.toml \
    CAREID_LISTEN=0.0.0.0:8080
USER careid
WORKDIR /var/lib/careid
# The SQLite database (and nothing else careid writes) lives here: back it up with
# `careid backup`.
VOLUME ["/var/lib/careid"]
EXPOSE 8080
# /healthz answers without touching the database. No curl in the image: bash's /dev/tcp
# speaks enough HTTP for this.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/careid"]
CMD ["serve"]

# The portal binary for compose.yaml's scale-out topology.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/portal /usr/local/bin/portal

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates wget \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/portal portal \
    && mkdir -p /var/lib/portal && chown portal /var/lib/portal
COPY --from=build /usr/local/bin/portal /usr/local/bin/portal
USER portal
WORKDIR /var/lib/portal
ENV PORTAL_LISTEN=0.0.0.0:8080 PORTAL_DATA_DIR=/var/lib/portal
EXPOSE 8080
ENTRYPOINT ["portal"]

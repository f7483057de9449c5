# syntax=docker/dockerfile:1
# Build: a static, CGO-free binary (SQLite is the pure-Go ncruces driver).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Regenerate the templ code so the image never depends on a stale checkout.
RUN go tool templ generate -path . \
 && CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/idsync ./cmd/idsync \
 && mkdir -p /out/data

# Run: distroless, no shell, non-root (uid 65532).
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/idsync /usr/local/bin/idsync
COPY --from=build --chown=65532:65532 /out/data /data
WORKDIR /data
# Keys (secret.key, session.key) and the default SQLite database live in
# /data: mount a volume there, or set DATABASE_URL=postgres://… and the
# IDSYNC_SECRET_KEY / IDSYNC_SESSION_KEY variables.
ENV IDSYNC_DATA_DIR=/data \
    DATABASE_URL=sqlite:/data/idsync.db
VOLUME ["/data"]
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/idsync"]
CMD ["serve", "--addr", "0.0.0.0:8080"]

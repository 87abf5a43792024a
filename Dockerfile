# reconctl as a static binary on a minimal base, running as a non-root user
# (used by deploy/kubernetes/cronjob.yaml). The SQLite driver is pure Go, so
# the binary needs no C library.
#
#   docker build -t reconctl:dev .
#   docker run --rm reconctl:dev version

FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /out/reconctl .

# distroless/static: CA certificates and /etc/passwd with the nonroot user
# (uid 65532), nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/reconctl /usr/local/bin/reconctl
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/reconctl"]

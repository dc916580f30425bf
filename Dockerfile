# syntax=docker/dockerfile:1.7
#
# modelops-executor: one static binary plus the modelops chart on distroless static, non-root.
#
#   docker build --build-arg MODELOPS_GIT_COMMIT=$(git rev-parse --short=12 HEAD) \
#     -t ghcr.io/modelops/modelops-executor:0.1.0 .
#
# scripts/static-build.sh builds the same binary with the local toolchain and checks it (static,
# runs alone in an empty directory as UID 65532), for machines without a container engine.

ARG RUST_VERSION=1.95

# ---- build: a static x86_64 musl binary ------------------------------------------------------
FROM rust:${RUST_VERSION}-bookworm AS builder
ARG TARGET=x86_64-unknown-linux-musl
# musl-gcc compiles ring's C and assembly for the musl target.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools file \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add "${TARGET}"
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY src ./src
# There is no .git in the build context: build.rs takes the commit from here for --version.
ARG MODELOPS_GIT_COMMIT=unknown
ENV MODELOPS_GIT_COMMIT=${MODELOPS_GIT_COMMIT} \
    CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never
RUN --mount=type=cache,id=modelops-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=modelops-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=modelops-target,target=/src/target,sharing=locked \
    cargo build --release --locked --target "${TARGET}" --bin modelops-executor \
 && install -D -m 0755 "target/${TARGET}/release/modelops-executor" /out/usr/local/bin/modelops-executor
# Fail the build if the binary is not static or does not start.
RUN file /out/usr/local/bin/modelops-executor | grep -Eq 'statically linked|static-pie linked' \
 && /out/usr/local/bin/modelops-executor --version
COPY charts/modelops /out/usr/share/modelops-executor/charts/modelops

# ---- runtime: distroless static (CA certificates, /etc/passwd with nonroot = 65532, no shell) --
FROM gcr.io/distroless/static-debian12:nonroot
ARG MODELOPS_GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="modelops-executor" \
      org.opencontainers.image.description="Installs, watches and removes ML scoring pipelines on Kubernetes for Tekton" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.revision="${MODELOPS_GIT_COMMIT}"
# The binary looks for the chart here when --chart is not given (src/commands/inputs.rs).
COPY --from=builder --chown=0:0 /out/ /
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/modelops-executor"]
CMD ["--help"]

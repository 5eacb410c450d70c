# The controller's image with a container engine: `docker build -t gitops-controller .`
# Without one, `bash scripts/build-image.sh` assembles an equivalent image from scratch (umoci).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p gitops-controller -p gitops-cli

# git and ssh: image automation pushes through the git binary.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates git openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --create-home nonroot
COPY --from=build /src/target/release/gitops-controller /src/target/release/gitops /usr/local/bin/
USER 65532:65532
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/gitops-controller"]

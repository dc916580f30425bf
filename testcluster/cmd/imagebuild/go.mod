// A module of its own: go-containerregistry's dependencies stay out of the Kubernetes module
// graph of ../../go.mod (whose binaries would otherwise change and be rebuilt).
module modelops.io/testcluster/imagebuild

go 1.26.0

require github.com/google/go-containerregistry v0.21.9

require (
	github.com/klauspost/compress v1.19.1 // indirect
	github.com/opencontainers/go-digest v1.0.0 // indirect
	github.com/opencontainers/image-spec v1.1.1 // indirect
)

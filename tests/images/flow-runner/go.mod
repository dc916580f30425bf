// The test flow runner (README.md): a module of its own, outside the test cluster's module graph.
module modelops.io/tests/images/flow-runner

go 1.26.0

require gopkg.in/yaml.v3 v3.0.1

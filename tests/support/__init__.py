"""What the tests (and the benchmarks) share that is not a fixture: the
`ketch` command runner, registries to push to and pull from, images built
offline, a token issuer, free ports and waits. tests/conftest.py turns the
few that need a lifetime into fixtures."""

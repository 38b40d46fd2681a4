"""The Docker Engine API on a unix socket (`ketch system service`): the
second face over the library, so docker's own CLI, compose, docker-py and
testcontainers drive ketch. http.py speaks HTTP, router.py finds the
handler and maps the library's errors to dockerd's status codes, server.py
listens; one module per area of the API holds its routes (`ROUTES`) and
turns the library's results into dockerd's documents."""

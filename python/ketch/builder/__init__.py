"""The Dockerfile builder (docker's legacy builder): builder.build() runs a
build and tells it through events.Event. parser: the Dockerfile language;
context: .dockerignore and confined sources; cache: step keys and file
digests (rows in store.buildcache); steps: one function per instruction;
copy: COPY/ADD and the roots they read; runtime: the one door into
ketch.runtime. Nothing here prints."""

#!/usr/bin/env bash
# The seed's example with a real Debian base: debootstrap a minimal Debian
# from the mirror, import it as `debian:bookworm`, and build `static_web`
# (apt-get install nginx in a RUN step) exactly as the seed types it, then
# run nginx and fetch the page. Needs the Debian mirror (a few minutes the
# first time); the test suite does not use this.
#
#   scripts/debian-demo.sh [WORKDIR]     (run scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "$0")/.."
KETCH="$PWD/.venv/bin/ketch"
work="${1:-/var/tmp/ketch-debian-demo}"
mkdir -p "$work"

if ! "$KETCH" image inspect debian:bookworm >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || apt-get install -y -q debootstrap >/dev/null
    if [ ! -f "$work/rootfs.tar" ]; then
        rm -rf "$work/rootfs"
        debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian
        tar -C "$work/rootfs" -cf "$work/rootfs.tar" .
        rm -rf "$work/rootfs"
    fi
    "$KETCH" import "$work/rootfs.tar" debian:bookworm
fi

mkdir -p "$work/static_web"
cd "$work/static_web"
cat > Dockerfile <<'EOF'
FROM debian:bookworm
MAINTAINER James Turnbull "james@example.com"
RUN apt-get update && apt-get install -y nginx
RUN echo 'Hi, I am in your container' > /var/www/html/index.html
EXPOSE 80
EOF
"$KETCH" build -t="static_web" .

"$KETCH" rm -f static_web_demo >/dev/null 2>&1 || true
"$KETCH" run -d -p 80 --name static_web_demo static_web nginx -g "daemon off;"
"$KETCH" ps
port=$("$KETCH" port static_web_demo 80 | head -n 1)   # e.g. 0.0.0.0:32768
echo "nginx is published on $port"
sleep 1
curl -fsS "http://127.0.0.1:${port##*:}/" || wget -qO- "http://127.0.0.1:${port##*:}/"
"$KETCH" rm -f static_web_demo

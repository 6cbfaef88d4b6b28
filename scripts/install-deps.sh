#!/usr/bin/env bash
# Installs the Debian packages pgthaw needs to build, test and benchmark.
# Only packages that are missing are installed; a no-op on a ready machine.
set -euo pipefail

packages=(
  build-essential cmake ninja-build clang-format
  # make test's thread_safety_analysis: clang++ -Wthread-safety (syntax only).
  clang
  wabt
  # libboost-dev: Boost.Beast (header-only), objstore's S3 client over HTTP/1.1.
  libboost-dev libboost-system-dev libboost-context-dev
  python3
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libzstd-dev libtoml11-dev libxxhash-dev
  libgtest-dev libgmock-dev
  # auth: SCRAM, TLS, token hashes (OpenSSL); SASLprep of passwords (libidn).
  libssl-dev libidn-dev pkg-config
  # data directory archives (PGlite dumpDataDir tarballs).
  libarchive-dev
  # tests/auth: the test CA and certificates (openssl req/x509, s_client).
  openssl
  libpq-dev postgresql-client postgresql postgresql-contrib
  # also tests/s3: s3rver (npm ci), objstore's S3 test server.
  nodejs
  gnuplot-nox
  # tests/drivers: the Postgres drivers people use, against a real server.
  python3-psycopg python3-psycopg2 python3-asyncpg
  libpostgresql-jdbc-java default-jdk-headless
  # src/fleet's tests: a real etcd (3.4, /usr/bin/etcd), started on free ports.
  etcd-server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# nodesource builds of nodejs carry npm inside; Debian splits it out.
command -v npm >/dev/null || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian's etcd-server starts a system etcd on 127.0.0.1:2379; src/fleet's
# tests start their own on free ports and need none running.
if [[ " ${missing[*]} " == *" etcd-server "* ]] && [ -d /run/systemd/system ]; then
  "${sudo_cmd[@]}" systemctl disable --now etcd.service || true
fi

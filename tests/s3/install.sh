#!/usr/bin/env bash
# Installs s3rver for the object store tests from package-lock.json (npm ci)
# into tests/s3/node_modules (git-ignored); skipped when that lock file is
# what was installed last.
set -euo pipefail
cd "$(dirname "$0")"
if [ -f node_modules/.installed-lock.json ] && cmp -s package-lock.json node_modules/.installed-lock.json; then
  exit 0
fi
npm ci --no-audit --no-fund --silent
cp package-lock.json node_modules/.installed-lock.json

#!/usr/bin/env bash
# Builds the vCenter simulator harness and the govmomi anchor program:
#   $TARGET/vcsim/failback-vcsim         (sim/vcsim)
#   $TARGET/vcsim/failback-vcsim-anchor  (sim/vcsim/anchor)
# where TARGET is $CARGO_TARGET_DIR or <repo>/target. Both are built in GOPATH mode
# against Debian's golang-github-vmware-govmomi-dev (no module downloads). The build is
# skipped when both binaries are newer than every source file. Prints the harness path.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
out="$target/vcsim"
harness="$out/failback-vcsim"
anchor="$out/failback-vcsim-anchor"
gopath_root="/usr/share/gocode"

missing=()
command -v go >/dev/null 2>&1 || missing+=(golang-go)
[ -d "$gopath_root/src/github.com/vmware/govmomi/simulator" ] || missing+=(golang-github-vmware-govmomi-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "sim/vcsim/build.sh: missing ${missing[*]}; install with: apt-get install ${missing[*]}" >&2
  exit 1
fi

up_to_date() {
  local bin
  for bin in "$harness" "$anchor"; do
    [ -x "$bin" ] || return 1
    # Any source (or this script) newer than the binary means a rebuild.
    if [ -n "$(find "$here" -maxdepth 2 \( -name '*.go' -o -name build.sh \) -newer "$bin" -print -quit)" ]; then
      return 1
    fi
  done
}

mkdir -p "$out"
# Parallel test processes all call this script; one builds, the others wait and reuse.
exec 9>"$out/.build.lock"
flock 9

if ! up_to_date; then
  export GO111MODULE=off GOPATH="$gopath_root" GOFLAGS=
  # Go's own cache is safe for concurrent builds; without a HOME (some CI runners) keep
  # it with the other build products.
  if [ -z "${GOCACHE:-}" ] && [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ]; then
    export GOCACHE="$out/gocache"
  fi
  trap 'rm -f "$harness.tmp.$$" "$anchor.tmp.$$"' EXIT
  start=$(date +%s.%N)
  (cd "$here" && go build -trimpath -o "$harness.tmp.$$" .)
  (cd "$here/anchor" && go build -trimpath -o "$anchor.tmp.$$" .)
  mv -f "$harness.tmp.$$" "$harness"
  mv -f "$anchor.tmp.$$" "$anchor"
  end=$(date +%s.%N)
  printf 'sim/vcsim/build.sh: built %s and %s in %.1f s\n' "$harness" "$anchor" "$(echo "$end - $start" | bc)" >&2
fi
echo "$harness"

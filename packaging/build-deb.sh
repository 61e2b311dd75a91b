#!/usr/bin/env bash
# The Debian package: both binaries, the hardened systemd unit, the maintainer scripts, manual
# pages, shell completions and the copyright file.
#
#   packaging/build-deb.sh          build the package, then check it (what .ci/run does)
#   packaging/build-deb.sh build    build only; prints the .deb's path last
#   packaging/build-deb.sh check    check the newest package built
#
# It installs cargo-deb if missing, builds the two binaries with the release profile (reused if
# `cargo run --release` built them already) and leaves the package in TARGET/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0

target_dir() {
    cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p'
}
TARGET=$(target_dir)
ASSETS=$TARGET/release/package-assets
OUT=$TARGET/debian

fail() {
    echo "package check: $*" >&2
    exit 1
}

install_cargo_deb() {
    if [ "$(cargo deb --version 2>/dev/null || true)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
        echo "installing cargo-deb $CARGO_DEB_VERSION"
        cargo install cargo-deb --locked --version "$CARGO_DEB_VERSION"
    fi
}

# Manual pages, completions and copyright, where the package's assets list expects them.
generate_assets() {
    local bin=$TARGET/release/passerelle
    rm -rf "$ASSETS"
    mkdir -p "$ASSETS/completions"
    "$bin" man --out "$ASSETS/man"
    gzip -9 -n "$ASSETS"/man/*.1
    "$bin" completions bash >"$ASSETS/completions/passerelle.bash"
    "$bin" completions zsh >"$ASSETS/completions/_passerelle"
    "$bin" completions fish >"$ASSETS/completions/passerelle.fish"
    {
        echo "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/"
        echo "Upstream-Name: Passerelle"
        echo
        echo "Files: *"
        echo "Copyright: the Passerelle authors"
        echo "License: EUPL-1.2"
        echo
        echo "License: EUPL-1.2"
        sed -e 's/^$/./' -e 's/^/ /' LICENSE
    } >"$ASSETS/copyright"
}

build() {
    install_cargo_deb
    cargo build --release --locked --bin passerelle --bin passerelled
    generate_assets
    mkdir -p "$OUT"
    rm -f "$OUT"/passerelle_*.deb
    cargo deb -p cli --no-build --locked --output "$OUT/"
}

newest_deb() {
    local deb
    deb=$(ls -t "$OUT"/passerelle_*.deb 2>/dev/null | head -n 1 || true)
    [ -n "$deb" ] || fail "no package in $OUT; run packaging/build-deb.sh build"
    echo "$deb"
}

check() {
    local deb work listing control
    deb=$(newest_deb)
    work=$(mktemp -d)
    trap 'rm -rf "$work"' RETURN
    echo "== $deb"
    dpkg-deb -I "$deb"
    dpkg-deb -c "$deb" | tee "$work/listing"
    listing=$work/listing

    has() { grep -qE "^$1 .* \./$2\$" "$listing" || fail "missing ($1) $2"; }
    local exe='-rwxr-xr-x (0/0|root/root)' file='-rw-r--r-- (0/0|root/root)'
    has "$exe" usr/bin/passerelle
    has "$exe" usr/bin/passerelled
    has "$file" usr/lib/systemd/system/passerelled.service
    has "$file" usr/share/bash-completion/completions/passerelle
    has "$file" usr/share/zsh/vendor-completions/_passerelle
    has "$file" usr/share/fish/vendor_completions.d/passerelle.fish
    has "$file" usr/share/doc/passerelle/copyright
    # Every page the binary writes, and no other.
    local page pages=0
    for page in "$ASSETS"/man/*.1.gz; do
        has "$file" "usr/share/man/man1/$(basename "$page")"
        pages=$((pages + 1))
    done
    [ "$pages" -gt 40 ] || fail "only $pages manual pages generated"
    [ "$(grep -c ' \./usr/share/man/man1/.*\.1\.gz$' "$listing")" = "$pages" ] ||
        fail "the package's manual pages differ from the generated ones"
    has "$file" usr/share/man/man1/passerelle.1.gz
    has "$file" usr/share/man/man1/passerelled.1.gz
    has "$file" usr/share/man/man1/passerelle-node-init.1.gz

    dpkg-deb -x "$deb" "$work/root"
    dpkg-deb -e "$deb" "$work/control"
    control=$work/control
    grep -q "^Package: passerelle$" "$control/control" || fail "package name"
    grep -qE "^Depends: .*adduser" "$control/control" || fail "Depends lacks adduser"
    for script in postinst prerm postrm; do
        [ -x "$control/$script" ] || fail "no executable $script"
        sh -n "$control/$script" || fail "$script does not parse"
        ! grep -q "#DEBHELPER#" "$control/$script" || fail "$script kept #DEBHELPER#"
    done
    grep -q "adduser --quiet --system" "$control/postinst" || fail "postinst creates no user"
    grep -q "install -d -o passerelle -g passerelle -m 0700 /var/lib/passerelle" \
        "$control/postinst" || fail "postinst makes no private state directory"
    grep -q "deb-systemd-helper" "$control/postinst" || fail "postinst lacks the unit snippets"
    grep -q "deb-systemd-invoke stop" "$control/prerm" || fail "prerm does not stop the node"
    grep -q "EUROPEAN UNION PUBLIC LICENCE v. 1.2" "$work/root/usr/share/doc/passerelle/copyright" ||
        fail "copyright lacks the licence text"
    bash -n "$work/root/usr/share/bash-completion/completions/passerelle" ||
        fail "bash completions do not parse"
    "$work/root/usr/bin/passerelle" --version >/dev/null || fail "passerelle does not run"
    "$work/root/usr/bin/passerelled" --version >/dev/null || fail "passerelled does not run"

    local unit=$work/root/usr/lib/systemd/system/passerelled.service
    for setting in "User=passerelle" "ProtectSystem=strict" "ReadWritePaths=/var/lib/passerelle" \
        "NoNewPrivileges=yes" "PrivateTmp=yes" "ProtectHome=yes" "CapabilityBoundingSet=" \
        "UMask=0077" "Restart=on-failure"; do
        grep -qx "$setting" "$unit" || fail "the unit lacks $setting"
    done
    if command -v systemd-analyze >/dev/null; then
        # A copy whose ExecStart names the unpacked binary, which is not installed here.
        mkdir "$work/unit"
        sed "s|^ExecStart=/usr/bin/|ExecStart=$work/root/usr/bin/|" "$unit" \
            >"$work/unit/passerelled.service"
        # It exits 0 on unknown keys and bad values, which it only reports: any report fails.
        local report
        report=$(systemd-analyze verify --man=no "$work/unit/passerelled.service" 2>&1) ||
            fail "systemd-analyze verify rejects the unit: $report"
        [ -z "$report" ] || fail "systemd-analyze verify: $report"
        echo "systemd-analyze verify: ok"
    else
        echo "systemd-analyze not installed: the unit is not verified"
    fi
    echo "package check: ok ($(du -h "$deb" | cut -f1), $pages manual pages)"
}

case "${1:-all}" in
build) build ;;
check) check ;;
all)
    build
    check
    ;;
*)
    echo "usage: $0 [build|check|all]" >&2
    exit 2
    ;;
esac

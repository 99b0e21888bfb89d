# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run. Debian 12 is the supported system.

FW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project needs to build, run and test.
FW_PACKAGES=(
	gcc clang pkg-config meson ninja-build python3 curl
	libevent-dev libinih-dev libgoogle-perftools-dev libfcgi-dev libfcgi-bin
	libjansson-dev nettle-dev
	libpq-dev postgresql-15 postgresql-client-15 util-linux
	nginx wrk prometheus systemd strace
	libfcgi-client-perl
	apache2-bin lighttpd caddy h2o
)

# Packages that bring a system service (a web server on port 80) that
# their maintainer scripts enable and start. The tests run these servers
# themselves with private configs on free ports of 127.0.0.1: the system
# services must not run beside them, nor take port 80 of a developer's
# machine or a CI runner. (apache2-bin above is Apache's binary and modules
# without the apache2 service.) postgresql-common brings postgresql.service,
# which would serve the cluster postgresql-15 creates on port 5432: fw's
# demo, tests and benchmarks run private clusters on unix sockets
# instead (scripts/pgcluster.py).
FW_SERVICE_PACKAGES=(nginx lighttpd caddy h2o postgresql-common)

fw_say() { printf '==> %s\n' "$*" >&2; }

# Install only the packages that are missing, so a second run is instant.
fw_install_deps() {
	local missing=() p sudo=()
	for p in "${FW_PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	# The independent FastCGI client of the tests comes from npm; a machine
	# that has Node.js from elsewhere keeps it.
	command -v npm >/dev/null || missing+=(nodejs npm)
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { fw_say "need root to install: ${missing[*]}"; return 1; }
		sudo=(sudo)
	fi
	fw_say "installing ${missing[*]}"
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	fw_without_services "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	local rc=$?
	fw_services_off "${sudo[@]}" -- "${missing[@]}"
	return $rc
}

# fw_without_services CMD...: run CMD with service starts forbidden.
# invoke-rc.d and deb-systemd-invoke, which maintainer scripts call to start
# a service, first ask /usr/sbin/policy-rc.d; its exit status 101 means
# "forbidden" (Debian's invoke-rc.d(8)). A policy already there (container
# images ship one) is left as it is; ours is removed when CMD ends.
fw_without_services() {
	local policy=/usr/sbin/policy-rc.d sudo=()
	[ "$1" = sudo ] && { sudo=(sudo); shift; }
	[ -e "$policy" ] && { "${sudo[@]}" "$@"; return; }
	printf '#!/bin/sh\n# scripts/lib.sh: no service starts while fw installs packages\nexit 101\n' |
		"${sudo[@]}" tee "$policy" >/dev/null && "${sudo[@]}" chmod 755 "$policy" || return 1
	"${sudo[@]}" "$@"
	local rc=$?
	"${sudo[@]}" rm -f "$policy"
	return $rc
}

# fw_services_off [sudo] -- PKG...: disable the services that the packages
# just installed enabled (only those of FW_SERVICE_PACKAGES, and only when
# this run installed them: a service its admin had set up stays as it was).
fw_services_off() {
	local sudo=() p unit
	[ "$1" = sudo ] && { sudo=(sudo); shift; }
	shift # --
	for p in "$@"; do
		[[ " ${FW_SERVICE_PACKAGES[*]} " == *" $p "* ]] || continue
		for unit in $(dpkg-query -L "$p" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$'); do
			"${sudo[@]}" systemctl disable --quiet "${unit##*/}" 2>/dev/null ||
				fw_say "could not disable ${unit##*/}"
		done
		[ -x "/etc/init.d/$p" ] && { "${sudo[@]}" update-rc.d "$p" disable >/dev/null 2>&1 ||
			fw_say "could not disable /etc/init.d/$p"; }
	done
	return 0
}

# fw_build DIR [meson options...]: configure once, then build.
fw_build() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		local out
		# Quiet when it works; meson says what went wrong on stdout.
		out=$(meson setup "$dir" "$FW_ROOT" "$@" 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
	fi
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

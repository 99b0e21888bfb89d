# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run. Debian 12 is the supported system.

FW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project needs to build, run and test, named in full:
# checked on a minimal Debian 12 (debootstrap --variant=minbase, what
# debian:12 containers and minimal cloud images start from) by
# scripts/fresh-test. A full image has more; nothing here may count on it.
FW_PACKAGES=(
	# Build: gcc, and clang with its sanitizer runtimes (libclang-rt-dev
	# follows clang's version, as clang does: libclang-rt-14-dev here) and
	# llvm-symbolizer (llvm), without which their reports have addresses
	# and no function names (e2e-reuse checks a handler's name in one).
	gcc clang libclang-rt-dev llvm pkg-config meson ninja-build
	libevent-dev libinih-dev libgoogle-perftools-dev libfcgi-dev
	# The request side's libraries: JSON (jansson), HMAC for signed
	# cookies (nettle). clang-format: the test `format` checks the code.
	libjansson-dev nettle-dev clang-format
	# Serve and test: nginx in front; clients (curl, wrk, cgi-fcgi, Perl's
	# FCGI::Client); promtool checks the metrics; python3 runs the tests.
	nginx curl wrk libfcgi-bin libfcgi-client-perl prometheus python3
	# PostgreSQL (framework/pg, apps/tfb): libpq to build; the server and
	# psql for the private clusters of the demo, the tests and bench/
	# (scripts/pgcluster.py), which runs it as postgres through setpriv
	# (util-linux) when started as root.
	libpq-dev postgresql-15 postgresql-client-15 util-linux
	# The other front ends, started from their files in conf/ by the tests
	# and bench/ (tests/e2e/frontends.py): Apache, lighttpd, Caddy, H2O.
	apache2-bin lighttpd caddy h2o
	# conf/systemd: systemd-analyze checks the unit, whose ExecReload runs
	# /bin/kill (procps), and runs man for its Documentation= (man-db,
	# which also shows docs/fw.7: man 7 fw); strace counts system calls.
	systemd procps man-db strace
	# https: npm's registry (the tests' independent clients and the
	# Kubernetes schema come from it), git and apt mirrors over https.
	ca-certificates
	# git: the clone itself, and meson dist. iproute2: scripts/run shows
	# with ss what holds a taken port. file, xz-utils: basics of a full
	# image that a minimal one lacks (a look at a built binary, a release
	# tarball unpacked); no script calls them.
	git iproute2 file xz-utils
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
	# apt-get update only warns about a source it could not read.
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		fw_without_services "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	local rc=$?
	[ $rc -ne 0 ] && fw_apt_hint
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

# A minimal system has no CA certificates, so an https mirror cannot be
# read until ca-certificates is installed, which needs the mirror: say so.
fw_apt_hint() {
	[ -s /etc/ssl/certs/ca-certificates.crt ] && return 0
	grep -qsE '^[^#]*https://' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
		/etc/apt/sources.list.d/*.sources || return 0
	fw_say "apt's sources use https, and this system has no CA" \
		"certificates (package ca-certificates) to check them. Use http:// for the" \
		"Debian mirror in /etc/apt/sources.list(.d) (apt checks the signatures itself)," \
		"then run this again."
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

# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run. Debian 12 is the supported system.

FW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project needs to build, run and test, named in full:
# checked on a minimal Debian 12 (debootstrap --variant=minbase, what
# debian:12 containers and minimal cloud images start from) by
# scripts/fresh-test. A full image has more; nothing here may count on it.
FW_PACKAGES=(
	# Build: gcc, and clang with its sanitizer runtimes (libclang-rt-dev
	# follows clang's version, as clang does: libclang-rt-14-dev here).
	gcc clang libclang-rt-dev pkg-config meson ninja-build
	libevent-dev libinih-dev libgoogle-perftools-dev libfcgi-dev
	# Serve and test: nginx in front; clients (curl, wrk, cgi-fcgi, Perl's
	# FCGI::Client); promtool checks the metrics; python3 runs the tests.
	nginx curl wrk libfcgi-bin libfcgi-client-perl prometheus python3
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
		"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null || { fw_apt_hint; return 1; }
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

# Shared by scripts/run and scripts/test: install what is missing, build.
# Sourced, not run. Debian 12 is the supported system.

FW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian packages the project needs to build, run and test.
FW_PACKAGES=(
	gcc clang pkg-config meson ninja-build python3 curl
	libevent-dev libinih-dev libgoogle-perftools-dev libfcgi-dev libfcgi-bin
	libjansson-dev nettle-dev
	nginx wrk prometheus systemd strace
	libfcgi-client-perl
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
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
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

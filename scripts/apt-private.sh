# apt-private.sh - sourced by the fetch scripts: a private apt state in a cache
# folder, with entries derived from this machine's own apt sources, so that
# neither /etc/apt nor the system's package lists change and no archive host
# is named in the repository.
#
# apt_private DIR SUITE TYPE
#   DIR    folder for the private state (recreated)
#   SUITE  "same" keeps the machine's suites; otherwise the main archive's
#          entry only (not security, not updates) pointed at SUITE (trixie, sid)
#   TYPE   deb or deb-src
# Sets APT_OPTS (the -o options, unquoted: DIR has no spaces) and runs
# `apt-get update` on the private state.
apt_private() {
	_dir=$1 _suite=$2 _type=$3
	case $_dir in *[[:space:]]*)
		echo "apt_private: the cache path must not contain spaces: $_dir" >&2; return 1 ;;
	esac
	rm -rf "$_dir"
	mkdir -p "$_dir/lists/partial" "$_dir/sources.list.d" "$_dir/cache/archives/partial"
	: >"$_dir/sources.list"
	for _f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$_f" ] || continue
		if [ "$_suite" = same ]; then
			sed "s/^Types:.*/Types: $_type/" "$_f"
		else
			awk 'BEGIN{RS=""; ORS="\n\n"} /Suites:[^\n]*bookworm( |$|\n)/ && !/security/' "$_f" |
			    sed "s/^Suites:.*/Suites: $_suite/; s/^Types:.*/Types: $_type/"
		fi >"$_dir/sources.list.d/$(basename "$_f")"
	done
	for _f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$_f" ] || continue
		if [ "$_suite" = same ]; then
			sed -n "s/^[[:space:]]*deb[[:space:]]/$_type /p" "$_f"
		else
			grep -E '^[[:space:]]*deb[[:space:]]+[^ ]+[[:space:]]+bookworm[[:space:]]' "$_f" |
			    grep -v security | sed "s/^[[:space:]]*deb[[:space:]]/$_type /; s/ bookworm / $_suite /"
		fi >>"$_dir/sources.list" || true
	done
	APT_OPTS="-o Dir::Etc::SourceList=$_dir/sources.list -o Dir::Etc::SourceParts=$_dir/sources.list.d -o Dir::State::Lists=$_dir/lists -o Dir::Cache=$_dir/cache -o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	apt-get $APT_OPTS -q update >&2
}

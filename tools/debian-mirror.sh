#!/bin/sh
# Prints the Debian archive mirror this machine's apt already uses (e.g. http://deb.debian.org/debian),
# so that setup.sh adds its Debian 13 line on the same mirror (a proxy, a local mirror, a snapshot).
#
#   tools/debian-mirror.sh [APT_ETC]     # default /etc/apt: reads sources.list and sources.list.d/
#
# Reads both formats apt reads, in apt's order: one-line "deb [options] URI SUITE COMPONENT..." in
# sources.list and sources.list.d/*.list, and deb822 stanzas (Types:, URIs:, Suites:, Enabled:) in
# sources.list.d/*.sources. The first "deb" entry whose suite is a Debian release (a codename or
# stable/testing/unstable, possibly with -updates, -backports or -proposed-updates) wins; security,
# debug and third-party suites (nodistro, cloud-sdk-bookworm, jammy...) are not the archive.
# Exits 1 with a one-line reason on stderr when no entry qualifies.
set -eu

etc=${1:-/etc/apt}
# sources.list first, then sources.list.d in file name order whatever the extension, as apt reads them.
files=$( { [ -f "$etc/sources.list" ] && echo "$etc/sources.list"
  for f in "$etc"/sources.list.d/*.list "$etc"/sources.list.d/*.sources; do
    [ -f "$f" ] && printf '%s\t%s\n' "${f##*/}" "$f"
  done | LC_ALL=C sort | cut -f2-; } || true)

# The first file with an entry wins; a file's awk stops at its first entry.
mirror=
set -f
old_ifs=$IFS
IFS='
'
for f in $files; do
  case $f in
    *.sources) format=deb822 ;;
    *) format=oneline ;;
  esac
  mirror=$(awk -v format="$format" '
    function debian_suite(s,   base) {
      if (s ~ /\//) return 0
      base = s
      sub(/-(updates|backports|backports-sloppy|proposed-updates)$/, "", base)
      return base ~ /^(buster|bullseye|bookworm|trixie|forky|duke|sid|oldoldstable|oldstable|stable|testing|unstable|experimental)$/
    }
    function usable(uri) { return uri !~ /^cdrom:/ }
    function emit(uri) { sub(/\/+$/, "", uri); print uri; found = 1; exit }
    function stanza(   n, i, t, u, s, nt, nu, ns, types, uris, suites) {
      if (tolower(field["enabled"]) == "no") return
      for (n in field) gsub(/^[ \t]+|[ \t]+$/, "", field[n])
      nt = split(field["types"], types, /[ \t]+/)
      nu = split(field["uris"], uris, /[ \t]+/)
      ns = split(field["suites"], suites, /[ \t]+/)
      for (t = 1; t <= nt; t++) if (types[t] == "deb")
        for (s = 1; s <= ns; s++) if (debian_suite(suites[s]))
          for (u = 1; u <= nu; u++) if (usable(uris[u])) emit(uris[u])
    }
    format == "oneline" {
      sub(/#.*/, "")
      gsub(/\[[^]]*\]/, "")
      if ($1 == "deb" && NF >= 3 && debian_suite($3) && usable($2)) emit($2)
      next
    }
    # deb822: stanzas end at a blank line; a line starting with a blank continues the field before.
    /^#/ { next }
    /^[ \t]*$/ { stanza(); split("", field); last = ""; next }
    /^[ \t]/ { if (last != "") field[last] = field[last] " " $0; next }
    {
      i = index($0, ":")
      if (i == 0) next
      last = tolower(substr($0, 1, i - 1))
      field[last] = substr($0, i + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", field[last])
    }
    END { if (format == "deb822" && !found) stanza() }
  ' "$f")
  if [ -n "$mirror" ]; then break; fi
done
IFS=$old_ifs
set +f

if [ -z "$mirror" ]; then
  echo "debian-mirror: no Debian archive entry (type deb, a Debian suite) in $etc/sources.list or $etc/sources.list.d/" >&2
  exit 1
fi
printf '%s\n' "$mirror"

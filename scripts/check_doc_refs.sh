#!/usr/bin/env bash
# Checks that every "MODEL §N" / "MODEL §N.N" citation in the repository names a section that
# docs/MODEL.md has as a heading number, and that no file outside docs/ still cites the old external
# specification (the SPE[C] forms below, or a path into ../shared/).
#
# Usage: scripts/check_doc_refs.sh [REPO_ROOT]        (CTest: docs.refs)
# Exit 0: all citations resolve; 1: something is missing or left over (each listed on stdout).
#
# What counts as a citation: "MODEL §6.6", and every further §-number of the same citation up to its
# closing parenthesis or the end of the line: "(MODEL §6.6, §10)", "MODEL §1.2/§4.3". Ranges
# "§3.4–3.6" and "§5–§9" (en dash or hyphen) check both ends and every number between them.
# A lettered item "MODEL §13.2(c)" also needs "(c)" in the text of that section. A heading
# number is the number that starts a Markdown heading: "## 6. Multi-head ..." is 6,
# "### 6.6 Precision points" is 6.6.
# Files scanned: those git tracks or would track (untracked, not ignored); without git, every file
# except .git/, build*/ and .cache/. Binary files are skipped.
set -euo pipefail
export LC_ALL=C

root=${1:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"}
root=$(cd "$root" && pwd -P)
doc="$root/docs/MODEL.md"
if [[ ! -f "$doc" ]]; then
  echo "check_doc_refs: $doc is missing"
  exit 1
fi

# NUL-separated paths relative to $root.
list_files() {
  local top
  top=$(git -C "$root" rev-parse --show-toplevel 2>/dev/null || true)
  if [[ -n "$top" && "$(cd "$top" && pwd -P)" == "$root" ]]; then
    git -C "$root" ls-files -z -c -o --exclude-standard
  else
    (cd "$root" && find . \( -name .git -o -name 'build*' -o -name .cache \) -prune -o -type f -print0) |
      sed -z 's#^\./##'
  fi | grep -zvE '^(\.git|build[^/]*|\.cache)(/|$)' || true
}

files=()
while IFS= read -r -d '' f; do
  [[ -f "$root/$f" ]] && files+=("$f")
done < <(list_files)

cd "$root"
sec=$'\xc2\xa7'    # "§" in UTF-8 (bytes, as LC_ALL=C sees it)
status=0

# 1. Citations: one "location<TAB>number<TAB>item" line per cited number.
cites=$(
  { printf '%s\0' "${files[@]}" | xargs -0 grep -nIH -F -e "MODEL $sec" -- 2>/dev/null || true; } |
  awk -v SEC="$sec" '
    function emit(loc, num, item) { printf "%s\t%s\t%s\n", loc, num, item }
    # Numbers strictly between a and b (a, b: "N" or "N.M" of the same section).
    function between(loc, a, b,   pa, pb, na, nb, i) {
      na = split(a, pa, "."); nb = split(b, pb, ".")
      if (na == 1 && nb == 1) { for (i = pa[1] + 1; i < pb[1]; i++) emit(loc, i, "") }
      else if (na == 2 && nb == 2 && pa[1] == pb[1]) { for (i = pa[2] + 1; i < pb[2]; i++) emit(loc, pa[1] "." i, "") }
    }
    {
      if (!match($0, /^[^:]*:[0-9]+:/)) next
      loc = substr($0, 1, RLENGTH - 1); text = substr($0, RLENGTH + 1)
      mark = "MODEL " SEC
      while ((i = index(text, mark)) > 0) {
        seg = substr(text, i + 6)                  # starts at the section sign
        text = substr(text, i + length(mark))
        # Lettered items "(c)" are not closing parentheses: rewrite them as "{c}".
        out = ""
        while (match(seg, /\([a-z]\)/)) {
          out = out substr(seg, 1, RSTART - 1) "{" substr(seg, RSTART + 1, 1) "}"
          seg = substr(seg, RSTART + RLENGTH)
        }
        seg = out seg
        if ((j = index(seg, ")")) > 0) seg = substr(seg, 1, j - 1)
        if ((j = index(seg, mark)) > 0) seg = substr(seg, 1, j - 1)   # the next mention is its own
        while (match(seg, SEC "[0-9]+([.][0-9]+)?")) {
          num = substr(seg, RSTART + length(SEC), RLENGTH - length(SEC))
          seg = substr(seg, RSTART + RLENGTH)
          item = ""
          if (match(seg, /^[{][a-z][}]/)) { item = substr(seg, 2, 1); seg = substr(seg, 4) }
          emit(loc, num, item)
          if (match(seg, "^(-|\342\200\223)(" SEC ")?[0-9]+([.][0-9]+)?")) {
            end = substr(seg, 1, RLENGTH); seg = substr(seg, RLENGTH + 1)
            sub("^(-|\342\200\223)(" SEC ")?", "", end)
            between(loc, num, end)
            emit(loc, end, "")
          }
        }
      }
    }'
)

# 2. Every cited number must be a heading number of docs/MODEL.md (and a cited item must appear
#    in its section).
if [[ -n "$cites" ]]; then
  missing=$(
    printf '%s\n' "$cites" | awk -F'\t' '
      FNR == NR {
        if (match($0, /^#+[ \t]+[0-9]+([.][0-9]+)*/)) {
          h = $0; sub(/^#+[ \t]+/, "", h); match(h, /^[0-9]+([.][0-9]+)*/)
          cur = substr(h, 1, RLENGTH); have[cur] = 1; body[cur] = ""
        } else if ($0 ~ /^#/) {
          cur = ""
        } else if (cur != "") {
          body[cur] = body[cur] "\n" $0
        }
        next
      }
      {
        loc = $1; num = $2; item = $3
        if (!(num in have)) print "missing section MODEL \302\247" num " (cited at " loc ")"
        else if (item != "" && index(body[num], "(" item ")") == 0)
          print "missing item (" item ") in MODEL \302\247" num " (cited at " loc ")"
      }' "$doc" -
  )
  if [[ -n "$missing" ]]; then
    printf '%s\n' "$missing" | sort -u
    status=1
  fi
fi

# 3. Nothing outside docs/ may still cite the external specification.
leftover=$(
  { printf '%s\0' "${files[@]}" | grep -zv '^docs/' |
      xargs -0 grep -nIHE -e "SPE[C] $sec|shared/SPE[C]|SPE[C] (section|[0-9])" -- 2>/dev/null || true; } |
    cut -c1-160
)
if [[ -n "$leftover" ]]; then
  echo "citations of the external specification left (cite docs/MODEL.md as MODEL $sec instead):"
  printf '%s\n' "$leftover"
  status=1
fi

n=$(printf '%s' "$cites" | grep -c . || true)
if [[ $status -eq 0 ]]; then
  echo "check_doc_refs: $n citations, all resolve in docs/MODEL.md"
fi
exit $status

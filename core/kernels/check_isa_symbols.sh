#!/usr/bin/env bash
# Checks the objects compiled with instruction-set flags (*_avx2.cpp.o, *_avx512.cpp.o): none may define a weak
# (mergeable) symbol outside its own family's namespace. An inline function or template from a shared header
# (std::max, std::fill, ...) emitted out of line there carries AVX instructions, and the linker may keep that copy
# for callers in portable code, which then crash on CPUs without them.
#   check_isa_symbols.sh NM OBJECT_DIR
set -euo pipefail
nm_tool=$1
dir=$2
shopt -s nullglob
objs=("$dir"/*_avx2.cpp.o "$dir"/*_avx512.cpp.o)
if [ ${#objs[@]} -eq 0 ]; then
  echo "no instruction-set objects under $dir" >&2
  exit 1
fi
bad=0
for o in "${objs[@]}"; do
  # Defined weak symbols (W, V) and unique globals (u), demangled; the family's own namespace may define them.
  while IFS= read -r sym; do
    echo "$(basename "$o"): weak symbol outside hl::kernels::avx2/avx512: $sym" >&2
    bad=1
  done < <("$nm_tool" -C --defined-only "$o" | awk '$2 ~ /^[WVu]$/ { $1 = ""; $2 = ""; sub(/^  /, ""); print }' |
           grep -Ev 'hl::kernels::avx(2|512)::' || true)
done
[ $bad -eq 0 ] && echo "${#objs[@]} instruction-set objects: no shared weak symbols"
exit $bad

#!/usr/bin/env bash
# Writes the demo's pre-training corpus: the King James Bible from Debian's bible-kjv-text,
# one document per chapter (blank line between chapters), verse references removed.
#   scripts/prepare_demo_corpora.sh OUT_DIR
set -euo pipefail
out=${1:?usage: prepare_demo_corpora.sh OUT_DIR}
mkdir -p "$out"
if [[ ! -s "$out/kjv.txt" ]]; then
  # "Ge1:1 In the beginning..." -> chapter key "Ge1", verse text.
  bible -f "gen1:1-rev22:21" 2>/dev/null | awk '
    { ref = $1; sub(/:[0-9]+$/, "", ref); $1 = "";
      sub(/^ /, "");
      if (ref != chapter && NR > 1) printf "\n\n";
      else if (NR > 1) printf " ";
      chapter = ref; printf "%s", $0 }
    END { printf "\n" }' > "$out/kjv.txt.tmp"
  mv "$out/kjv.txt.tmp" "$out/kjv.txt"
fi
echo "corpus $out/kjv.txt: $(wc -c < "$out/kjv.txt") bytes"

#!/usr/bin/env bash
# Writes the demo's corpora, each split into a training file and a held-out file that no stage
# trains on (the trainer validates on it and plume-eval scores it):
#   kjv-{train,heldout}.txt       the King James Bible (Debian's bible-kjv-text), one document per
#                                 chapter, verse references removed; every 40th chapter held out
#   fortunes-{train,heldout}.txt  Debian's fortune cookies (fortunes), one document per fortune;
#                                 every 20th held out
# Every file separates documents with a line holding only "%" (as fortune files do), so one
# document_separator ("\n%\n") reads them all.
#   scripts/prepare_demo_corpora.sh OUT_DIR
set -euo pipefail
out=${1:?usage: prepare_demo_corpora.sh OUT_DIR}
mkdir -p "$out"

# Splits "\n%\n"-separated documents on stdin: every Nth non-blank one to HELD, the rest to TRAIN.
split_documents() {
  local every=$1 train=$2 held=$3
  awk -v RS='\n%\n' -v every="$every" -v train="$train.tmp" -v held="$held.tmp" '
    { sub(/^(%\n)+/, ""); sub(/\n+$/, "") }
    NF && $0 != "%" { n++; printf "%s\n%%\n", $0 > (n % every == 0 ? held : train) }'
  mv "$train.tmp" "$train"
  mv "$held.tmp" "$held"
}

if [[ ! -s "$out/kjv-heldout.txt" ]]; then
  # "Ge1:1 In the beginning..." -> chapter key "Ge1", verse text.
  bible -f "gen1:1-rev22:21" 2>/dev/null | awk '
    { ref = $1; sub(/:[0-9]+$/, "", ref); $1 = "";
      sub(/^ /, "");
      if (ref != chapter && NR > 1) printf "\n%%\n";
      else if (NR > 1) printf " ";
      chapter = ref; printf "%s", $0 }
    END { printf "\n%%\n" }' | split_documents 40 "$out/kjv-train.txt" "$out/kjv-heldout.txt"
fi

if [[ ! -s "$out/fortunes-heldout.txt" ]]; then
  for f in /usr/share/games/fortunes/*.u8; do
    cat "$f"
    printf '\n%%\n'  # files need not end with a separator
  done | split_documents 20 "$out/fortunes-train.txt" "$out/fortunes-heldout.txt"
fi

for f in kjv-train kjv-heldout fortunes-train fortunes-heldout; do
  echo "corpus $out/$f.txt: $(grep -c '^%$' "$out/$f.txt") documents, $(wc -c < "$out/$f.txt") bytes"
done

// Node's (V8 + ICU) view of the character classes GPT-2's pattern uses, for Plume's Unicode table
// test: for every code point, 'L' (\p{L}), 'N' (\p{N}), 'S' (JavaScript's \s) or '.' (other).
// Usage: node unicode_classes_reference.js OUT.txt   -> one line: the Unicode version, then
// 0x110000 class characters (surrogates as '.').
"use strict";
const fs = require("fs");
const L = /\p{L}/u, N = /\p{N}/u, S = /\s/u;
const chars = new Array(0x110000);
for (let c = 0; c < 0x110000; c++) {
  if (c >= 0xd800 && c <= 0xdfff) { chars[c] = "."; continue; }
  const s = String.fromCodePoint(c);
  chars[c] = L.test(s) ? "L" : N.test(s) ? "N" : S.test(s) ? "S" : ".";
}
fs.writeFileSync(process.argv[2], process.versions.unicode + "\n" + chars.join(""));

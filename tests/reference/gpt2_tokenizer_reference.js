// Expected GPT-2 token ids for Plume's tokenizer exactness test, from independent references:
//   js-tiktoken (encoding "gpt2"), a pure-JavaScript port of OpenAI's tiktoken, for every case
//   except two kinds where it cannot be the reference:
//   - text with U+0085 or U+FEFF: js-tiktoken runs the pattern with JavaScript's \s, where U+FEFF
//     is whitespace and U+0085 is not; OpenAI's tiktoken (Rust regex) uses Unicode White_Space,
//     the opposite for both. These use the npm package tiktoken (that Rust code compiled to WASM).
//   - the 100 KB word without spaces: js-tiktoken's merge loop is quadratic (~10 minutes here);
//     tiktoken WASM takes seconds.
// Usage: node gpt2_tokenizer_reference.js OUT.json   (run with NODE_PATH=third_party/npm/node_modules)
// Writes [{name, text, special: "allow"|"text", reference, ids}, ...].
"use strict";
const fs = require("fs");
const { execFileSync } = require("child_process");
const { getEncoding } = require("js-tiktoken");
const { get_encoding } = require("tiktoken");

const js = getEncoding("gpt2");
const wasm = get_encoding("gpt2");

function bibleSlice(range, maxBytes) {
  const text = execFileSync("bible", [range], { maxBuffer: 64 << 20, encoding: "utf8" });
  return text.slice(0, maxBytes);
}

function codeSlice(maxBytes) {
  const dir = "/usr/include/c++/12/bits";
  let out = "";
  for (const f of fs.readdirSync(dir).sort()) {
    if (out.length >= maxBytes) break;
    out += fs.readFileSync(`${dir}/${f}`, "utf8");
  }
  return out.slice(0, maxBytes);
}

// Deterministic pseudo-random generator (LCG), so the cases are the same on every run.
function lcg(seed) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s >>> 8;
  };
}

// Code points assigned in the Unicode version of Plume's tables (Debian's unicode-data), so a
// newer Node/ICU cannot make the references disagree on characters Plume's tables lack.
function assignedCodePoints() {
  const age = fs.readFileSync("/usr/share/unicode/DerivedAge.txt", "utf8");
  const cps = [];
  for (const line of age.split("\n")) {
    const m = line.match(/^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;/);
    if (!m) continue;
    const lo = parseInt(m[1], 16), hi = m[2] ? parseInt(m[2], 16) : lo;
    for (let c = lo; c <= hi; c++) {
      if (c >= 0xd800 && c <= 0xdfff) continue;                   // surrogates
      if (c >= 0xe000 && c <= 0xf8ff) continue;                   // private use
      if (c >= 0xf0000) continue;                                 // planes 15-16
      if (c === 0x85 || c === 0xfeff) continue;                   // js-tiktoken's \s differs
      cps.push(c);
    }
  }
  return cps;
}

function randomUnicode(n, seed) {
  const cps = assignedCodePoints();
  const rnd = lcg(seed);
  let s = "";
  for (let i = 0; i < n; i++) {
    const r = rnd() % 10;
    if (r < 2) s += " ";
    else if (r < 3) s += "\n";
    else s += String.fromCodePoint(cps[rnd() % cps.length]);
  }
  return s;
}

// Short atoms that stress the pattern's corners (whitespace backtracking, optional space,
// contractions, class boundaries), in random order.
function trickyAtoms(n, seed) {
  const atoms = [" ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "'", "'s", "'ll", "'RE", "\u2019",
                 "a", "Zq", "\u00e9", "\u4e2d", "7", "42", "\u0663", "!", "?!", ".", "--", "\u0301",
                 "\ud83d\ude00", "\u200d", "<|", "endoftext", "|>", "_", "\u00bd"];
  const rnd = lcg(seed);
  let s = "";
  for (let i = 0; i < n; i++) s += atoms[rnd() % atoms.length];
  return s;
}

function noSpaceWord(n, seed) {
  const rnd = lcg(seed);
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(97 + (rnd() % 26));
  return s;
}

const cases = [
  ["empty", ""],
  ["prose", "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times."],
  ["prose_kjv", bibleSlice("gen1:1-deu34:12", 600000)],
  ["code_cpp", codeSlice(300000)],
  ["code_python", "def f(x):\n    return [i ** 2 for i in range(x) if i % 2 == 0]\n\n\nclass A(object):\n\tpass\n"],
  ["spaces", "a  b   c    d     e"],
  ["spaces_only", "     "],
  ["tabs_newlines", "\t\tx\n\n\ny\r\n\r\nz \n \n  \t \n"],
  ["trailing_space", "word   "],
  ["leading_space", "   word"],
  ["newline_before_word", "x\n\nhello\n \nworld"],
  ["whitespace_unicode", "a\u00a0b\u2003c\u3000d \u2028 e\u2029f  \u00a0 g"],
  ["contractions", "don't I'll we've they're she'd I'm it's 's 't 're 've 'm 'll 'd"],
  ["contractions_upper", "DON'T I'LL WE'VE THEY'RE SHE'D I'M IT'S 'S 'T 'RE"],
  ["contractions_curly", "don\u2019t I\u2019ll we\u2019ve it\u2019s \u2018quoted\u2019"],
  ["apostrophes", "''s '''' x'sy !'s ''ll '\n's"],
  ["digits", "1234567890 3.14159 1,000,000 2024-01-01 0000000000000000 ١٢٣ ½ ⅷ ²³"],
  ["punctuation", "!!!??? ... --- ===>>> @@@ #$%^&*() {}[]<>|\\/ ~~`` ;;::"],
  ["emoji", "😀😃🎉 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 ❤️ 🇩🇪🇯🇵 a😀b"],
  ["cjk", "你好，世界！こんにちは世界。안녕하세요 세계 漢字カタカナひらがな"],
  ["arabic_hebrew", "مرحبا بالعالم، كيف حالك؟ שלום עולם, מה שלומך?"],
  ["combining", "e\u0301 a\u0308 n\u0303 Z\u0324\u0354\u0367\u0311\u0313a\u0356\u032d\u0308\u0307 \u0915\u094d\u0937"],
  ["mixed_scripts", "Ελληνικά русский ไทย देवनागरी ქართული Ꭰꮳ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"],
  ["special_as_text", "Hello<|endoftext|>world <|endoftext|> <|endoftext"],
  ["special_allowed", "Hello<|endoftext|>world <|endoftext|><|endoftext|> x", "allow"],
  ["random_unicode", randomUnicode(20000, 7)],
  ["random_tricky", trickyAtoms(30000, 9)],
  // White_Space differs from JavaScript's \s: reference tiktoken WASM.
  ["nel_feff", "x \u0085y !\u0085! x \ufeffy !\ufeff! \u0085\u0085 \ufeff\ufeff a\u0085\n b", "text", "wasm"],
  ["word_100k", noSpaceWord(100000, 3), "text", "wasm"],
];

const out = [];
for (const [name, text, special = "text", ref = "js"] of cases) {
  const allowed = special === "allow" ? "all" : [];
  let ids;
  if (ref === "js") {
    ids = js.encode(text, allowed, []);
  } else {
    ids = Array.from(wasm.encode(text, allowed, []));
  }
  out.push({ name, text, special, reference: ref === "js" ? "js-tiktoken" : "tiktoken-wasm", ids });
}
wasm.free();
fs.writeFileSync(process.argv[2], JSON.stringify(out));

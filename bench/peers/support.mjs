// Which share of the world's browser usage shows each image format, from caniuse's own data package
// (caniuse-lite, pinned in package.json): usage of every browser version whose support is "y" (full), and "a"
// (partial) beside it. Prints one JSON line: {"data": <caniuse-lite version>, "webp": {...}, "avif": {...}}.
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { agents, feature } = require("caniuse-lite");
const version = require("caniuse-lite/package.json").version;

function share(name) {
  const stats = feature(require(`caniuse-lite/data/features/${name}.js`)).stats;
  let full = 0;
  let partial = 0;
  let known = 0;
  for (const [browser, versions] of Object.entries(stats)) {
    const usage = agents[browser]?.usage_global ?? {};
    for (const [v, support] of Object.entries(versions)) {
      const u = usage[v] ?? 0;
      known += u;
      if (support.startsWith("y")) full += u;
      else if (support.startsWith("a")) partial += u;
    }
  }
  const pct = (x) => Math.round((x / known) * 1000) / 10;
  return { full_pct: pct(full), with_partial_pct: pct(full + partial) };
}

console.log(JSON.stringify({ data: version, webp: share("webp"), avif: share("avif"), jpegxl: share("jpegxl") }));

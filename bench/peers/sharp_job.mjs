// The pipeline's job done by sharp, the way a sharp user would write it: per size, shrink-on-load from the
// source (orientation applied, sRGB, metadata stripped: sharp's defaults), pixels kept once, then each format
// encoded from them. An animated source's WebP is resized frame by frame ({animated: true}); its other formats
// get the first frame, as ours do. Prints one JSON line (see bench/peers.py for the protocol).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import sharp from "sharp";

const job = JSON.parse(process.argv[2]);
sharp.cache(false); // measure the job, not what a cache keeps between calls
const SIZES = job.sizes;
const EXT = { JPEG: "jpg", PNG: "png", WEBP: "webp", AVIF: "avif" };

function encoder(pipeline, format) {
  // The same nominal settings as ours (bench/peers.py passes them): JPEG q85, WebP q82 at effort 2, AVIF q56 at
  // effort 0 (libavif speed 9), PNG at sharp's default compression.
  const q = job.quality;
  if (format === "JPEG") return pipeline.flatten({ background: "#ffffff" }).jpeg({ quality: q.JPEG });
  if (format === "PNG") return pipeline.png();
  if (format === "WEBP") return pipeline.webp({ quality: q.WEBP, effort: q.WEBP_EFFORT });
  if (format === "AVIF") return pipeline.avif({ quality: q.AVIF, effort: q.AVIF_EFFORT });
  throw new Error(`no encoder for ${format}`);
}

async function once(data) {
  const out = [];
  for (const [name, w, h] of SIZES) {
    const fit = { width: w, height: h, fit: "inside", withoutEnlargement: true };
    const { data: pixels, info } = await sharp(data, { failOn: "none" })
      .rotate()
      .resize(fit)
      .toColourspace("srgb")
      .raw()
      .toBuffer({ resolveWithObject: true });
    const raw = { raw: { width: info.width, height: info.height, channels: info.channels } };
    const encodes = job.formats.map(async (format) => {
      let bytes;
      if (job.animated && format === "WEBP") {
        bytes = await encoder(sharp(data, { animated: true }).resize(fit), format).toBuffer();
      } else {
        bytes = await encoder(sharp(pixels, raw), format).toBuffer();
      }
      return { size: name, format, bytes };
    });
    out.push(...(await Promise.all(encodes)));
  }
  return out;
}

async function main() {
  const data = readFileSync(job.input);
  const base = process.memoryUsage().rss;
  const ms = [];
  let last = [];
  try {
    if (job.throughput) {
      // images per second with `concurrency` images in flight (libvips' own threads do the rest)
      let next = 0;
      const t = process.hrtime.bigint();
      const lane = async () => {
        while (next++ < job.throughput) await once(data);
      };
      await Promise.all(Array.from({ length: job.concurrency }, lane));
      const s = Number(process.hrtime.bigint() - t) / 1e9;
      console.log(JSON.stringify({ images_per_s: job.throughput / s }));
      return;
    }
    for (let i = 0; i < job.repeats; i++) {
      const t = process.hrtime.bigint();
      last = await once(data);
      ms.push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  } catch (e) {
    console.log(JSON.stringify({ error: String(e.message || e).split("\n")[0] }));
    return;
  }
  mkdirSync(job.out, { recursive: true });
  const outputs = last.map(({ size, format, bytes }) => {
    const file = join(job.out, `${size}.${EXT[format]}`);
    writeFileSync(file, bytes);
    return { size, format, file, bytes: bytes.length };
  });
  const peak = process.resourceUsage().maxRSS * 1024;
  console.log(JSON.stringify({ ms, base_mb: base / 2 ** 20, peak_mb: peak / 2 ** 20, outputs }));
}

await main();

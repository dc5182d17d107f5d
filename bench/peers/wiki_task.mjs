// The libvips wiki's speed-and-memory task by sharp: crop 100 px from every edge, shrink to 90%, sharpen with a
// 3x3 kernel (scale 8), save a TIFF. Prints the job's seconds and the process's peak memory.
import sharp from "sharp";

const spec = JSON.parse(process.argv[2]);
const t = process.hrtime.bigint();
const meta = await sharp(spec.input).metadata();
const w = meta.width - 200;
const h = meta.height - 200;
await sharp(spec.input, { sequentialRead: true })
  .extract({ left: 100, top: 100, width: w, height: h })
  .resize(Math.round(w * 0.9), Math.round(h * 0.9), { kernel: "linear" })
  .convolve({ width: 3, height: 3, kernel: [-1, -1, -1, -1, 16, -1, -1, -1, -1], scale: 8 })
  .tiff()
  .toFile(spec.out);
const s = Number(process.hrtime.bigint() - t) / 1e9;
console.log(JSON.stringify({ s, peak_mb: (process.resourceUsage().maxRSS * 1024) / 2 ** 20 }));

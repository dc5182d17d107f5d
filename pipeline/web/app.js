// imgpipe's page: ask the API for a presigned POST, upload straight to S3, then poll the image's status.
"use strict";

const list = document.getElementById("uploads");
const drop = document.getElementById("drop");
const input = document.getElementById("files");

async function api(path, options = {}) {
  const resp = await fetch(path, { headers: { "Content-Type": "application/json" }, ...options });
  const body = await resp.json().catch(() => ({}));
  return { status: resp.status, body };
}

function card(file) {
  const node = document.getElementById("card").content.firstElementChild.cloneNode(true);
  node.querySelector(".name").textContent = file.name;
  list.prepend(node);
  return node;
}

function show(node, status, text, cls) {
  const badge = node.querySelector(".status");
  badge.textContent = status;
  badge.className = "status " + (cls || status);
  if (text !== undefined) node.querySelector(".meta").textContent = text;
  node.dataset.status = status;
}

function renderResult(node, image) {
  if (image.status === "failed") {
    show(node, "failed", "");
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `${image.error.code}: ${image.error.message}`;
    node.querySelector(".meta").append(p);
    return;
  }
  const o = image.original;
  // Processed comes before the deferred formats (AVIF) exist: the card says they are coming until they are there.
  const coming = (image.pendingFormats || []).length
    ? ` · ${image.pendingFormats.join(", ")} coming`
    : image.variantsError
      ? ` · later formats not made (${image.variantsError.code})`
      : "";
  show(node, "processed", `${o.format} ${o.width}×${o.height}, ${(o.bytes / 1024).toFixed(0)} KB${coming}`);
  node.dataset.complete = image.complete ? "yes" : "no";
  const box = node.querySelector(".renditions");
  box.textContent = "";
  // One <picture> per size: a <source> per modern format, in the API's order (best first: pipeline/formats.py),
  // and the fallback (the first of each size: JPEG, or PNG with alpha) in the <img> for every other browser.
  // A size written without one (RENDITIONS `thumb:150x150:webp`) shows the largest size's fallback, scaled.
  const sizes = new Map();
  for (const r of image.renditions) {
    if (!sizes.has(r.name)) sizes.set(r.name, []);
    sizes.get(r.name).push(r);
  }
  const largest = image.renditions[0];
  for (const [name, variants] of sizes) {
    const own = variants[0].format === largest.format;
    const fallback = own ? variants[0] : largest;
    const modern = own ? variants.slice(1) : variants;
    const shown = variants[0];
    const fig = document.createElement("figure");
    const picture = document.createElement("picture");
    for (const v of modern) {
      const source = document.createElement("source");
      source.type = v.contentType;
      source.srcset = v.url;
      picture.append(source);
    }
    const img = document.createElement("img");
    img.src = fallback.url;
    img.alt = `${name} rendition`;
    img.className = "rendition " + name;
    img.width = shown.width;
    img.height = shown.height;
    // The placeholder (the decoded BlurHash, over the dominant colour) shows until the rendition has loaded.
    if (image.dominantColor) img.style.backgroundColor = image.dominantColor;
    if (image.placeholderUrl) {
      img.style.backgroundImage = `url("${image.placeholderUrl}")`;
      img.style.backgroundSize = "100% 100%";
    }
    picture.append(img);
    const cap = document.createElement("figcaption");
    const kb = (v) =>
      `${v.format || v.contentType}${v.frames > 1 ? ` animated (${v.frames} frames)` : ""} ${(v.bytes / 1024).toFixed(1)} KB`;
    cap.textContent = `${name} ${shown.width}×${shown.height} · ${variants.map(kb).join(" · ")}`;
    fig.append(picture, cap);
    box.append(fig);
  }
}

// Browsers other than Safari often give HEIC photos no type at all: name it from the extension (the pipeline
// itself goes by the bytes, never by the name or the type).
function typeOf(file) {
  if (file.type) return file.type;
  const ext = file.name.toLowerCase().split(".").pop();
  return { heic: "image/heic", heif: "image/heif", avif: "image/avif" }[ext] || "application/octet-stream";
}

// Poll until the image is complete as the API means it (ended, and every format there): a processed card is
// drawn at once and drawn again when the deferred formats arrive.
async function poll(node, id) {
  const started = Date.now();
  let drawn = -1;
  while (Date.now() - started < 180000) {
    const { status, body } = await api(`/images/${id}`);
    if (status === 200 && (body.status === "processed" || body.status === "failed")) {
      if (body.renditions.length !== drawn || body.complete) renderResult(node, body);
      drawn = body.renditions.length;
      if (body.complete || body.status === "failed") return;
    } else if (status === 200) {
      show(node, body.status, body.lastError ? `retrying: ${body.lastError.message}` : undefined);
    }
    await new Promise((r) => setTimeout(r, 700));
  }
  if (drawn < 0) show(node, "timed out", "no result after three minutes", "failed");
}

// The images processed lately, so that a reload (or a second visitor) sees them too: oldest first, so that the
// newest ends on top as uploads do.
async function recent() {
  const { status, body } = await api("/images?status=processed&limit=12");
  if (status !== 200) return;
  for (const item of body.items.reverse()) {
    const node = card({ name: item.key.split("/").pop() });
    node.dataset.id = item.id;
    poll(node, item.id);
  }
}

async function upload(file) {
  const node = card(file);
  show(node, "requesting", "");
  const { status, body } = await api("/uploads", {
    method: "POST",
    body: JSON.stringify({ filename: file.name, contentType: typeOf(file), size: file.size }),
  });
  if (status !== 201) {
    show(node, "refused", body.error || `HTTP ${status}`, "failed");
    return;
  }
  show(node, "uploading", "");
  const form = new FormData();
  for (const [k, v] of Object.entries(body.upload.fields)) form.append(k, v);
  form.append("file", file);
  const s3 = await fetch(body.upload.url, { method: "POST", body: form });
  if (!s3.ok) {
    show(node, "upload failed", `S3 answered ${s3.status}`, "failed");
    return;
  }
  show(node, "uploaded", "waiting for the pipeline…");
  node.dataset.id = body.id;
  await poll(node, body.id);
}

function take(files) {
  for (const f of files) upload(f);
}

input.addEventListener("change", () => take(input.files));
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); take(e.dataTransfer.files); });
recent();

// CycleGAN Studio: translate on the visitor's own device with onnxruntime-web (demo/device.py).
//
// The server sends the model once as an ONNX file; the browser keeps it in its Cache Storage under
// the SHA-256 of its bytes, so a class downloads each model once per device. The generator runs as
// one whole-image pass (InstanceNorm statistics of the whole picture, as on the server) with WebGPU
// or WebAssembly (threads when the page is cross-origin isolated): where both exist, whichever a
// measurement on this device found faster (`chooseBackend`).
// Everything here is reached through `window.cycleganDevice`; the settings come from
// `window.CYCLEGAN_DEVICE` (written by the server: where onnxruntime-web is, its integrity hash,
// the largest picture a device translates).
(() => {
  "use strict";
  const CACHE = "cyclegan-studio-models-v1";
  const settings = () => window.CYCLEGAN_DEVICE || {};
  const state = { ort: null, loading: null, sessions: new Map(), backend: null };

  function loadScript(src, integrity) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      if (integrity) {
        script.integrity = integrity;
        script.crossOrigin = "anonymous";
      }
      script.onload = () => resolve();
      script.onerror = () => reject(new Error(`onnxruntime-web could not be loaded from ${src}`));
      document.head.appendChild(script);
    });
  }

  async function runtime() {
    if (state.ort) return state.ort;
    if (!state.loading) {
      const s = settings();
      state.loading = loadScript(s.script, s.integrity).then(() => {
        const ort = window.ort;
        ort.env.wasm.wasmPaths = s.base;
        ort.env.wasm.numThreads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
        ort.env.logLevel = "error";
        state.ort = ort;
        return ort;
      });
      state.loading.catch(() => { state.loading = null; });
    }
    return state.loading;
  }

  // The backends this browser offers: WebGPU where it has an adapter (and the server allows it), and
  // WebAssembly always.
  async function backends() {
    if (settings().webgpu !== false && navigator.gpu) {
      try {
        if (await navigator.gpu.requestAdapter()) return ["webgpu", "wasm"];
      } catch (e) { /* no adapter */ }
    }
    return ["wasm"];
  }

  // Which backend runs the model here. WebGPU is not always faster than WebAssembly (a weak or
  // software GPU, a fast CPU with threads), so where both exist the first translation measures both
  // on a PROBE² picture through this model (a first run to set up, then a timed one) and keeps the
  // faster; the choice and both speeds are remembered by the browser (`CHOICE`), so this happens once
  // per device. Returns { backend, choice } where `choice` says what was measured (null: nothing to
  // choose between).
  const CHOICE = "cyclegan-studio-device-backend-v1";
  const PROBE = 128;
  function remembered() {
    try { return JSON.parse(localStorage.getItem(CHOICE) || "null"); } catch (e) { return null; }
  }
  async function chooseBackend(info, onProgress) {
    if (state.backend) return { backend: state.backend, choice: state.choice };
    const offered = await backends();
    const kept = remembered();
    if (offered.length === 1) {
      state.backend = "wasm";
      state.choice = null;
    } else if (kept && offered.includes(kept.backend)) {
      state.backend = kept.backend;
      state.choice = kept;
    } else if (!info) {
      return { backend: offered[0], choice: null };  // a guess until a model is here to measure with
    } else {
      const ort = await runtime();
      const { bytes, downloaded } = await modelBytes(info, onProgress);
      if (downloaded) state.downloadedNow = info.sha256;  // said with the first result
      const probe = new ort.Tensor("float32", new Float32Array(3 * PROBE * PROBE).map((_, i) => Math.sin(i) * 0.8),
                                   [1, 3, PROBE, PROBE]);
      const seconds = {};
      for (const backend of offered) {
        try {
          const made = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
          const feeds = { [made.inputNames[0]]: probe };
          await made.run(feeds);  // the first run sets up (shaders, memory)
          const start = performance.now();
          await made.run(feeds);
          seconds[backend] = (performance.now() - start) / 1000;
          state.sessions.set(`${info.sha256}:${backend}`, made);
        } catch (e) {
          seconds[backend] = Infinity;  // it could not run this model
        }
      }
      const fastest = offered.reduce((a, b) => (seconds[b] < seconds[a] ? b : a));
      for (const backend of offered) {  // the other one's session is not needed any more
        const key = `${info.sha256}:${backend}`;
        if (backend !== fastest && state.sessions.has(key)) {
          try { state.sessions.get(key).release(); } catch (e) { /* gone already */ }
          state.sessions.delete(key);
        }
      }
      state.backend = fastest;
      state.choice = { backend: fastest, seconds, probe: PROBE };
      try { localStorage.setItem(CHOICE, JSON.stringify(state.choice, (k, v) => (v === Infinity ? null : v))); } catch (e) { /* private mode */ }
      for (const backend of offered) {  // the speeds, for the next picture's time estimate
        if (Number.isFinite(seconds[backend]) && seconds[backend] > 0) {
          try { localStorage.setItem(speedKey(backend), String((info.flops_per_pixel || 1.5e6) * PROBE * PROBE / seconds[backend])); } catch (e) { /* private mode */ }
        }
      }
    }
    return { backend: state.backend, choice: state.choice };
  }

  function hex(buffer) {
    return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  async function download(url, size, onProgress) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the model could not be downloaded (HTTP ${response.status})`);
    const total = size || Number(response.headers.get("content-length")) || 0;
    if (!response.body || !total) return new Uint8Array(await response.arrayBuffer());
    const bytes = new Uint8Array(total);
    const reader = response.body.getReader();
    let received = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (received + value.length > total) throw new Error("the model's download is larger than announced");
      bytes.set(value, received);
      received += value.length;
      onProgress(received / total);
    }
    return bytes.subarray(0, received);
  }

  // The model's bytes: from this browser's cache when it holds them, else downloaded (and kept).
  async function modelBytes(info, onProgress) {
    const key = new Request(`${location.origin}/cyclegan-studio-model/${info.sha256}.onnx`);
    let cache = null;
    try { cache = await caches.open(CACHE); } catch (e) { /* no Cache Storage (not a secure context) */ }
    if (cache) {
      const hit = await cache.match(key);
      if (hit) return { bytes: new Uint8Array(await hit.arrayBuffer()), downloaded: false };
    }
    const bytes = await download(info.url, info.bytes, onProgress);
    if (crypto.subtle) {
      const digest = hex(await crypto.subtle.digest("SHA-256", bytes));
      if (digest !== info.sha256) throw new Error("the downloaded model does not match its checksum");
    }
    if (cache) {
      try {
        await cache.put(key, new Response(bytes, { headers: { "content-type": "application/octet-stream" } }));
      } catch (e) { /* full: it is downloaded again next time */ }
    }
    return { bytes, downloaded: true };
  }

  async function session(info, onProgress) {
    const { backend } = await chooseBackend(info, onProgress);
    const key = `${info.sha256}:${backend}`;
    if (state.sessions.has(key)) {
      const downloaded = state.downloadedNow === info.sha256;  // by the measurement just made
      state.downloadedNow = null;
      return { session: state.sessions.get(key), backend, downloaded };
    }
    const ort = await runtime();
    const { bytes, downloaded } = await modelBytes(info, onProgress);
    let made;
    try {
      made = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
    } catch (e) {
      if (backend === "wasm") throw e;
      state.backend = "wasm";  // WebGPU could not take this model: WebAssembly from now on
      state.choice = null;
      return session(info, onProgress);
    }
    state.sessions.set(key, made);
    return { session: made, backend, downloaded };
  }

  // The picture as the server reads it: EXIF orientation applied, no colour management, RGB.
  async function picture(url) {
    const blob = await (await fetch(url, { credentials: "same-origin" })).blob();
    const bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", colorSpaceConversion: "none",
                                                   premultiplyAlpha: "none" });
    const canvas = document.createElement("canvas");
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    return context.getImageData(0, 0, bitmap.width, bitmap.height);
  }

  function toTensor(ort, image) {
    const { width, height, data } = image;
    const plane = width * height;
    const values = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      values[i] = data[4 * i] / 127.5 - 1;
      values[plane + i] = data[4 * i + 1] / 127.5 - 1;
      values[2 * plane + i] = data[4 * i + 2] / 127.5 - 1;
    }
    return new ort.Tensor("float32", values, [1, 3, height, width]);
  }

  async function toPng(values, width, height) {
    const plane = width * height;
    const pixels = new ImageData(width, height);
    const rgba = pixels.data;
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) {
        rgba[4 * i + c] = Math.min(255, Math.max(0, Math.round((values[c * plane + i] + 1) * 127.5)));
      }
      rgba[4 * i + 3] = 255;
    }
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    canvas.getContext("2d").putImageData(pixels, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    return await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(blob);
    });
  }

  // What this device is asked to do at most: pixels (a whole pass needs about 1 kB per pixel).
  function maxPixels() {
    const value = settings().maxPixels;
    return typeof value === "number" ? value : 2000000;
  }

  // This device's speed (floating-point operations per second) with a backend: measured by earlier
  // translations here (kept by the browser), else a cautious guess.
  function speedKey(backend) { return `cyclegan-studio-device-flops:${backend}`; }
  function deviceFlops(backend, threads) {
    const measured = Number(localStorage.getItem(speedKey(backend)));
    if (measured > 0) return measured;
    return backend === "webgpu" ? 2e11 : 1.2e10 * threads;  // headless Chromium on a Zen 4 core: 2.7e10
  }

  function expectedSeconds(info, pixels, backend, threads) {
    return (info.flops_per_pixel || 1.5e6) * pixels / deviceFlops(backend, threads);
  }

  async function translate(imageUrl, info, onProgress) {
    const started = performance.now();
    const image = await picture(imageUrl);
    const pixels = image.width * image.height;
    if (pixels > maxPixels()) {
      return { fallback: `${image.width}×${image.height} is more than this device translates (${maxPixels()} pixels)` };
    }
    const guessBackend = (await chooseBackend(null)).backend;
    const threads = self.crossOriginIsolated ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 1)) : 1;
    const expected = expectedSeconds(info, pixels, guessBackend, threads);
    if (expected > (settings().maxSeconds || 20)) {
      return { fallback: `about ${Math.round(expected)} s expected on this device (${guessBackend}): the server is faster` };
    }
    const progress = onProgress || (() => {});
    const { session: made, backend, downloaded } = await session(info, (f) => progress("download", f));
    progress("run", 0);
    const ort = state.ort;
    const ran = performance.now();
    const output = await made.run({ [made.inputNames[0]]: toTensor(ort, image) });
    const result = output[made.outputNames[0]];
    const values = result.data instanceof Float32Array ? result.data : Float32Array.from(result.data);
    const seconds = (performance.now() - ran) / 1000;
    if (pixels >= 16384 && seconds > 0) {  // large enough to time: this device's speed, for next time
      try { localStorage.setItem(speedKey(backend), String((info.flops_per_pixel || 1.5e6) * pixels / seconds)); } catch (e) { /* private mode */ }
    }
    return { png: await toPng(values, image.width, image.height), width: image.width, height: image.height,
             backend, threads: backend === "wasm" ? ort.env.wasm.numThreads : null, downloaded, choice: state.choice,
             seconds, total: (performance.now() - started) / 1000 };
  }

  // --- the page (demo/device.py wires these) ---

  const update = (fields) => Object.assign({ __type__: "update" }, fields || {});

  function escapeText(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function showProgress(title, fraction) {
    const box = document.querySelector("#translate-progress .translate-progress-text");
    if (!box || !box.parentElement) return;
    const percent = Math.round(Math.max(0, Math.min(1, fraction)) * 100);
    box.parentElement.innerHTML = `<div class="translate-progress-text">${escapeText(title)}` +
      (fraction === null ? "" : `: <strong>${percent} %</strong>`) + "</div>" +
      (fraction === null ? "<progress></progress>" : `<progress max="100" value="${percent}">${percent} %</progress>`);
  }

  function serverInstead(why) {
    console.warn(`CycleGAN Studio: translating on the server instead (${why})`);
    const button = document.getElementById("translate-server");
    if (button) button.click();
    return [update(), update(), update(), update(), update()];
  }

  // The Translate button's device path: (image, model file, model facts) from the page → the outputs
  // (result image, facts, progress box, error box, cycle image). Anything it cannot do goes to the server.
  async function runOnPage(image, file, info) {
    if (!image || !image.url || !file || !file.url || !info || !info.sha256) return [update(), update(), update(), update(), update()];
    let result;
    try {
      const megabytes = (info.bytes / 1e6).toFixed(1);
      result = await translate(image.url, { ...info, url: file.url }, (stage, fraction) => {
        if (stage === "download") showProgress(`Downloading the model once for this device (${megabytes} MB)`, fraction);
        else showProgress("Translating on this device", null);
      });
    } catch (e) {
      return serverInstead(e && e.message ? e.message : String(e));
    }
    if (result.fallback) return serverInstead(result.fallback);
    const name = (backend) => (backend === "webgpu" ? "WebGPU" : "WebAssembly");
    let where = result.backend === "webgpu" ? "WebGPU" : `WebAssembly, ${result.threads} thread${result.threads === 1 ? "" : "s"}`;
    const measured = result.choice && result.choice.seconds;
    if (measured) {  // both were measured here: say why this one
      const other = Object.keys(measured).find((b) => b !== result.backend);
      const time = (b) => (Number.isFinite(measured[b]) && measured[b] !== null ? `${measured[b].toFixed(2)} s` : "could not run it");
      where += `; faster here than ${name(other)} on a ${result.choice.probe}² test: ${time(result.backend)} against ${time(other)}`;
    }
    const model = result.downloaded ? `model downloaded once (${(info.bytes / 1e6).toFixed(1)} MB, kept by this browser)`
                                    : "model from this browser's cache";
    const facts = `**${escapeText(info.what)}** · ${result.width}×${result.height} px · ` +
      `${result.seconds.toFixed(2)} s **on this device** (${where}, ${info.precision} model) · ${model}. ` +
      "The server only sent files.";
    const png = { url: result.png, path: "translated.png", orig_name: "translated.png", mime_type: "image/png",
                  meta: { _type: "gradio.FileData" } };
    return [update({ value: png, label: "Translated on this device (PNG, full resolution)" }), facts,
            update({ value: "", visible: false }), update({ value: "", visible: false }),
            update({ value: null, visible: false })];
  }

  // Whether this browser translates the picture shown in `preview` (an <img>, or nothing): it can run
  // onnxruntime-web, and the picture is not larger than a device is asked to take.
  function capable(preview) {
    if (typeof WebAssembly !== "object" || typeof createImageBitmap !== "function" || !settings().script) return false;
    if (!(maxPixels() > 0)) return false;
    const pixels = preview && preview.naturalWidth ? preview.naturalWidth * preview.naturalHeight : 0;
    return pixels <= maxPixels();
  }

  // --- the webcam, live on this device (demo/webcam.py wires these) ---
  //
  // The camera's frames never leave the browser. The model is the generator's "live" graph
  // (engine/onnx_graph.py): besides the translation it returns each frame's InstanceNorm statistics,
  // and it takes statistics to use instead. The first LIVE_SAMPLES frames of a shot run with their own
  // and their statistics are combined (mean of the means; variance = mean of (var + mean²) − mean²);
  // from then on the shot's are locked, so the colours hold still. A sudden change of view (the mean
  // difference of 32×32 grey thumbnails above CUT, as the server's shots.py) starts a new shot. The
  // frame's longer side follows the measured time per frame, aiming at LIVE_SECONDS.
  const LIVE_SAMPLES = 4, CUT = 0.12, LIVE_SECONDS = 0.25, LIVE_MIN = 64, LIVE_MAX = 640, LIVE_START = 160;
  const live = { running: false, stream: null, runs: 0 };

  function liveBox() {
    const host = document.getElementById("webcam-device-html") || document.body;
    let canvas = document.getElementById("webcam-device-canvas");
    if (!canvas) {
      canvas = document.createElement("canvas");
      canvas.id = "webcam-device-canvas";
      canvas.style.maxWidth = "100%";
      const text = document.createElement("div");
      text.id = "webcam-device-info";
      host.appendChild(canvas);
      host.appendChild(text);
    }
    return { canvas, text: document.getElementById("webcam-device-info") };
  }

  function combine(samples, channels) {
    const out = new Float32Array(samples[0].length);
    let offset = 0;
    for (const c of channels) {
      for (let k = 0; k < c; k++) {
        let mean = 0, square = 0;
        for (const s of samples) {
          const m = s[offset + k], v = s[offset + c + k];
          mean += m / samples.length;
          square += (v + m * m) / samples.length;
        }
        out[offset + k] = mean;
        out[offset + c + k] = Math.max(0, square - mean * mean);
      }
      offset += 2 * c;
    }
    return out;
  }

  function greyThumbnail(context, video) {
    context.drawImage(video, 0, 0, 32, 32);
    const data = context.getImageData(0, 0, 32, 32).data;
    const grey = new Float32Array(32 * 32);
    for (let i = 0; i < grey.length; i++) grey[i] = (data[4 * i] + data[4 * i + 1] + data[4 * i + 2]) / (3 * 255);
    return grey;
  }

  function stopWebcam() {
    live.running = false;
    if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
    live.stream = null;
    return [];
  }

  // Starts the camera's loop and returns at once (the page's event does not wait for the stream).
  function startWebcam(file, info) {
    runLive(file, info);
    return [];
  }

  async function runLive(file, info) {
    stopWebcam();
    const { canvas, text } = liveBox();
    const say = (words) => { text.textContent = words; };
    if (!file || !file.url || !info || !info.sha256) return [];
    const run = ++live.runs;
    try {
      const ort = await runtime();
      const megabytes = (info.bytes / 1e6).toFixed(1);
      const { bytes } = await modelBytes({ ...info, url: file.url }, (f) => say(
        `Downloading the model once for this device (${megabytes} MB): ${Math.round(f * 100)} %`));
      const kept = remembered();
      const backend = state.backend || (kept && kept.backend) || "wasm";
      const session = await ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: "all" });
      say("Starting the camera…");
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
      if (run !== live.runs) { stream.getTracks().forEach((t) => t.stop()); return []; }
      live.stream = stream;
      live.running = true;
      const video = document.createElement("video");
      video.muted = true;
      video.playsInline = true;
      video.srcObject = stream;
      await video.play();
      const work = document.createElement("canvas");
      const workContext = work.getContext("2d", { willReadFrequently: true });
      const thumb = document.createElement("canvas");
      thumb.width = thumb.height = 32;
      const thumbContext = thumb.getContext("2d", { willReadFrequently: true });
      const n = info.statistics_length;
      const zeros = new Float32Array(n);
      let side = LIVE_START, shot = 1, locked = null, samples = [], previous = null;
      const done = [];
      while (live.running && run === live.runs) {
        const vw = video.videoWidth || 640, vh = video.videoHeight || 480;
        const scale = Math.min(1, side / Math.max(vw, vh));
        const w = Math.max(8, Math.floor(vw * scale / 4) * 4), h = Math.max(8, Math.floor(vh * scale / 4) * 4);
        work.width = w;
        work.height = h;
        workContext.drawImage(video, 0, 0, w, h);
        const frame = workContext.getImageData(0, 0, w, h);
        const grey = greyThumbnail(thumbContext, video);
        if (previous) {
          let difference = 0;
          for (let i = 0; i < grey.length; i++) difference += Math.abs(grey[i] - previous[i]);
          if (difference / grey.length > CUT) { shot += 1; locked = null; samples = []; }
        }
        previous = grey;
        const started = performance.now();
        const output = await session.run({
          image: toTensor(ort, frame),
          shared: new ort.Tensor("float32", locked || zeros, [n]),
          use_shared: new ort.Tensor("float32", new Float32Array([locked ? 1 : 0]), [1]),
        });
        const seconds = (performance.now() - started) / 1000;
        if (!locked) {
          samples.push(Float32Array.from(output.statistics.data));
          if (samples.length >= LIVE_SAMPLES) locked = combine(samples, info.norm_channels);
        }
        const values = output.translated.data;
        const pixels = new ImageData(w, h);
        const plane = w * h;
        for (let i = 0; i < plane; i++) {
          for (let c = 0; c < 3; c++) pixels.data[4 * i + c] = Math.min(255, Math.max(0, Math.round((values[c * plane + i] + 1) * 127.5)));
          pixels.data[4 * i + 3] = 255;
        }
        canvas.width = w;
        canvas.height = h;
        canvas.getContext("2d").putImageData(pixels, 0, 0);
        done.push(performance.now());
        if (done.length > 10) done.shift();
        const fps = done.length > 1 ? (done.length - 1) / ((done[done.length - 1] - done[0]) / 1000) : null;
        const wanted = side * Math.sqrt(LIVE_SECONDS / Math.max(seconds, 1e-3));
        side = Math.round(Math.min(LIVE_MAX, Math.max(LIVE_MIN, Math.min(Math.max(wanted, side * 0.75), side * 1.25))));
        live.frames = (live.frames || 0) + 1;
        say(`Live on this device (${backend === "webgpu" ? "WebGPU" : "WebAssembly"}): ` +
            `${fps ? fps.toFixed(1) + " frames/s" : "measuring the frame rate…"} at ${w}×${h} ` +
            `(${Math.round(seconds * 1000)} ms a frame) · shot ${shot}: ` +
            (locked ? "statistics locked while the view is steady" : "measuring its statistics") +
            " · the camera's frames stay in this browser");
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (e) {
      stopWebcam();
      say(`The camera could not run on this device (${e && e.message ? e.message : e}); choose "On the server".`);
    }
    return [];
  }

  window.cycleganDevice = { capable, translate, runOnPage, runtime, backends, chooseBackend, maxPixels,
                            startWebcam, stopWebcam, live };
})();

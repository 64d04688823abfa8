// getUserMedia with a fallback signal (callers show the file picker or the QR code on NoCamera),
// single stills, and the dense frame capture of the liveness challenge.

export class NoCamera extends Error {}

export async function openCamera(video, facing) {
  if (!navigator.mediaDevices?.getUserMedia) throw new NoCamera("no mediaDevices");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: {
        facingMode: { ideal: facing },
        width: { ideal: facing === "environment" ? 1920 : 640 },
        height: { ideal: facing === "environment" ? 1080 : 480 },
        // The selfie is captured at 12 frames a second: ask for a camera rate well above it.
        frameRate: facing === "environment" ? undefined : { ideal: 30 },
      },
    });
  } catch (error) {
    throw new NoCamera(error?.name || "getUserMedia failed");
  }
  video.srcObject = stream;
  await video.play().catch(() => {});
  await waitForFrames(video);
  return stream;
}

function waitForFrames(video) {
  if (video.videoWidth > 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new NoCamera("no frames")), 8000);
    video.addEventListener("loadeddata", () => { clearTimeout(timer); resolve(); }, { once: true });
  });
}

export function stopCamera(video) {
  const stream = video.srcObject;
  if (stream) for (const track of stream.getTracks()) track.stop();
  video.srcObject = null;
}

// Draw the current video frame, unmirrored, scaled so its longer side is at most maxSide.
function drawFrame(video, canvas, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  const width = Math.round(video.videoWidth * scale);
  const height = Math.round(video.videoHeight * scale);
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  canvas.getContext("2d").drawImage(video, 0, 0, width, height);
}

// The canvas as JPEG. toBlob copies the bitmap when called, so the canvas can be drawn on again
// before the promise settles.
function encode(canvas, quality) {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no image"))), "image/jpeg", quality);
  });
}

// One still from the live video, unmirrored, as JPEG; maxSide bounds the upload size.
export function grabFrame(video, canvas, maxSide, quality = 0.92) {
  drawFrame(video, canvas, maxSide);
  return encode(canvas, quality);
}

// Frames of the live video at a steady rate, each tagged with the prompt on screen when it was
// taken and its time in ms since the burst started. A frame is taken only when the camera has
// delivered a new one (requestVideoFrameCallback), so two frames are never the same image; the
// rate follows a fixed grid rather than "interval after the last frame", so a late frame does not
// slow every later one. JPEG quality steps down when the frames so far would overrun the byte
// budget the server set for the whole challenge.
export class FrameBurst {
  constructor(video, canvas, { fps, maxSide, quality, maxBytes, expectedFrames }) {
    this.video = video;
    this.canvas = canvas;
    this.intervalMs = 1000 / fps;
    this.maxSide = maxSide;
    this.quality = quality;
    this.maxBytes = maxBytes;
    this.expectedFrames = Math.max(1, expectedFrames);
    this.frames = [];
    this.bytes = 0;
    this.prompt = "";
    this.running = false;
  }

  start(prompt) {
    this.prompt = prompt;
    this.running = true;
    this.startedAt = performance.now();
    this.dueAt = this.startedAt;
    this.schedule();
  }

  schedule() {
    if (!this.running) return;
    if (this.video.requestVideoFrameCallback) {
      this.video.requestVideoFrameCallback(() => this.tick());
    } else {
      setTimeout(() => this.tick(), Math.max(10, this.dueAt - performance.now()));
    }
  }

  tick() {
    if (!this.running) return;
    const now = performance.now();
    if (now >= this.dueAt - 4) {
      // Keep to the grid, but never owe a burst of frames after a stall.
      this.dueAt = Math.max(this.dueAt + this.intervalMs, now - this.intervalMs / 2);
      drawFrame(this.video, this.canvas, this.maxSide);
      const frame = { prompt: this.prompt, t_ms: Math.round(now - this.startedAt), blob: null };
      frame.ready = encode(this.canvas, this.currentQuality()).then((blob) => {
        frame.blob = blob;
        this.bytes += blob.size;
      });
      this.frames.push(frame);
    }
    this.schedule();
  }

  // The configured quality while the frames so far fit their share of the budget, lower after.
  currentQuality() {
    const done = this.frames.filter((frame) => frame.blob);
    if (!done.length) return this.quality;
    const share = this.maxBytes / this.expectedFrames;
    const average = this.bytes / done.length;
    if (average <= share * 0.85) return this.quality;
    return Math.max(0.5, this.quality - 0.1 * Math.ceil((average / share - 0.85) / 0.1));
  }

  async stop() {
    this.running = false;
    await Promise.all(this.frames.map((frame) => frame.ready));
    return this.frames.map(({ prompt, t_ms, blob }) => ({ prompt, t_ms, blob }));
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

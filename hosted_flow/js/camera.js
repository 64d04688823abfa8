// getUserMedia with a fallback signal: callers show the file picker or the QR code on NoCamera.

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

// One still from the live video, unmirrored, as JPEG; maxSide bounds the upload size.
export function grabFrame(video, canvas, maxSide, quality = 0.92) {
  const scale = Math.min(1, maxSide / Math.max(video.videoWidth, video.videoHeight));
  canvas.width = Math.round(video.videoWidth * scale);
  canvas.height = Math.round(video.videoHeight * scale);
  canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("no image"))), "image/jpeg", quality);
  });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

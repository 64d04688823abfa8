// The selfie step's two phases: framing (the server checks stills until the face is found,
// large enough and frontal, and the page says what to change), then the liveness challenge,
// captured densely while each prompt is on screen. The server decides both: it judges the
// framing and issues the prompts with the capture settings (rate, size, byte budget).
import { FrameBurst, grabFrame, sleep } from "./camera.js";

// Used when the server's challenge does not say (an older gateway): 12 frames a second, 480 px.
const DEFAULT_CAPTURE = {
  fps: 12,
  neutral_ms: 1000,
  prompt_ms: 2500,
  max_side_px: 480,
  jpeg_quality: 0.8,
  max_bytes: 3_000_000,
};
const CHECK_PAUSE_MS = 300;
const FRAMING_TIMEOUT_MS = 60_000;

export class FramingTimeout extends Error {}

// Check stills until one passes; onIssue(code) after each refusal. Resolves with the last
// check's answer; rejects with FramingTimeout when the face never became usable.
export async function waitForGoodFraming(api, video, canvas, { onIssue, maxSide }) {
  const deadline = performance.now() + FRAMING_TIMEOUT_MS;
  for (;;) {
    const still = await grabFrame(video, canvas, maxSide || DEFAULT_CAPTURE.max_side_px, 0.85);
    const answer = await api.checkSelfie(still);
    if (answer.ok) return answer;
    onIssue(answer.issue?.code || "generic");
    if (performance.now() > deadline) throw new FramingTimeout(answer.issue?.code || "generic");
    await sleep(CHECK_PAUSE_MS);
  }
}

export function captureSettings(challenge) {
  return { ...DEFAULT_CAPTURE, ...(challenge.capture || {}) };
}

// Neutral frames, then each prompt for its time on screen; onPrompt(prompt, index) when the
// instruction changes. Returns [{prompt, t_ms, blob}] within the challenge's byte budget.
export async function captureChallenge(video, canvas, challenge, { onPrompt }) {
  const settings = captureSettings(challenge);
  const totalMs = settings.neutral_ms + settings.prompt_ms * challenge.prompts.length;
  const burst = new FrameBurst(video, canvas, {
    fps: settings.fps,
    maxSide: settings.max_side_px,
    quality: settings.jpeg_quality,
    maxBytes: settings.max_bytes,
    expectedFrames: Math.ceil((totalMs / 1000) * settings.fps),
  });
  onPrompt("neutral", -1);
  burst.start("neutral");
  await sleep(settings.neutral_ms);
  for (const [index, prompt] of challenge.prompts.entries()) {
    burst.prompt = prompt;
    onPrompt(prompt, index);
    await sleep(settings.prompt_ms);
  }
  const frames = await burst.stop();
  return withinBudget(frames, settings.max_bytes);
}

// Should the encoder still overrun the budget, drop one frame in four (never a whole prompt)
// rather than have the upload refused, once: 12 a second become 9, still over the 8.5 the
// server asks of each prompt. Past that the server's "too large" is the honest answer; dropping
// more would have it refuse the frames as a camera too slow.
function withinBudget(frames, maxBytes) {
  const total = (list) => list.reduce((sum, frame) => sum + frame.blob.size, 0);
  if (total(frames) <= maxBytes) return frames;
  return frames.filter((frame, index) => index % 4 !== 3);
}

// The applicant's journey: consent, document, selfie with a liveness challenge, review, done.
// Every decision (which step, is the photo good, where to return) is the server's; this page
// only shows it and captures.
import { ApiError, FlowApi } from "./api.js";
import { NoCamera, grabFrame, openCamera, stopCamera } from "./camera.js";
import { CountryList } from "./countries.js";
import { applyStrings, has, loadStrings, t } from "./i18n.js";
import { FramingTimeout, captureChallenge, waitForGoodFraming } from "./selfie.js";

// static/ holds this script's js/ folder, wherever the pages are served from.
const STATIC_BASE = new URL("..", import.meta.url).href.replace(/\/$/, "");
const STEPS = ["consent", "document", "selfie", "review", "done"];
const DOCUMENT_MAX_SIDE = 2048;

const $ = (id) => document.getElementById(id);
let api;
let apiIsRemote = false;
let state;
let photoSide = "front";
let busy = false;
let countries = new CountryList();

function setBusy(value) {
  busy = value;
  for (const button of document.querySelectorAll("main button")) button.disabled = value;
}

function show(step) {
  for (const section of document.querySelectorAll("main > section")) {
    section.hidden = section.dataset.step !== step;
  }
  const index = STEPS.indexOf(step === "photo" ? "document" : step);
  $("progress").textContent = index >= 0 ? t("step_progress", { n: index + 1, total: STEPS.length }) : "";
  hideAlert();
  const heading = document.querySelector(`section[data-step="${step}"] h1`);
  if (heading) heading.focus();
  document.body.dataset.step = step;
}

// An empty message shows nothing: errorMessage() returns one when the whole page changed instead.
function showAlert(message) {
  if (!message) return;
  $("alert").textContent = message;
  $("alert").hidden = false;
}

function hideAlert() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

// The link stopped working (expired, replaced, finished). When the gateway serves these pages, a
// reload gets its page saying why; served from KYC_FRONTEND_URL elsewhere, this page says it.
function linkStopped(error) {
  if (!apiIsRemote) {
    window.location.reload();
    return;
  }
  const kinds = { link_missing: "missing", link_expired: "expired", link_finished: "finished" };
  const kind = kinds[error.code] || "invalid";
  if (error.body.branding) applyBranding(error.body.branding);
  $("link-title").textContent = t(`link_${kind}_title`);
  $("link-body").textContent = t(`link_${kind}_body`);
  if (error.body.return_url) {
    $("link-return").href = error.body.return_url;
    $("link-return").hidden = false;
  }
  show("link");
}

function errorMessage(error) {
  if (!(error instanceof ApiError)) return t("error_generic");
  if (error.code.startsWith("link_")) {
    linkStopped(error);
    return "";
  }
  const keys = {
    network: "error_network",
    image_type_refused: "error_image_type",
    unsupported_media_type: "error_image_type",
    image_too_large: "error_too_large",
    payload_too_large: "error_too_large",
    image_refused: "error_image_refused",
    selfie_too_large: "error_selfie_too_large",
    rate_limited: "error_rate_limited",
    challenge_refused: "error_challenge",
  };
  if (error.code === "selfie_refused") return selfieIssueText(error.body.issue?.code);
  return t(keys[error.code] || "error_generic");
}

function applyBranding(branding) {
  const root = document.documentElement.style;
  root.setProperty("--accent", branding.accent_color);
  root.setProperty("--accent-text", branding.accent_text_color);
  $("brand-name").textContent = branding.name || "";
}

function showResubmission() {
  const box = $("resubmission");
  const info = state.resubmission;
  if (!info) {
    box.hidden = true;
    return;
  }
  box.textContent = "";
  const what = document.createElement("p");
  what.textContent = t(`resubmission_${info.step === "selfie" ? "selfie" : "document"}`);
  box.append(what);
  // A reviewer's words are shown as written; a machine code (INVALID_PHOTO:selfie) is not.
  if (info.reason && !/^[A-Z_]+(:[a-z_]+)?$/.test(info.reason)) {
    const why = document.createElement("p");
    why.textContent = t("resubmission_reason", { reason: info.reason });
    box.append(why);
  }
  box.hidden = false;
}

function route() {
  showResubmission();
  const step = state.step;
  if (step === "consent") return showConsent();
  if (step === "document") {
    if (state.document.type && !state.captured.document_front) return showPhoto("front");
    if (state.document.type && state.document.needs_back && !state.captured.document_back) {
      return showPhoto("back");
    }
    return showDocument();
  }
  if (step === "selfie") return showSelfie();
  return showReview();
}

// -- consent ---------------------------------------------------------------------------------

function showConsent() {
  $("consent-intro").textContent = t("consent_intro", { partner: state.branding.name || "" });
  $("consent-retention").textContent = t("consent_retention", { days: state.retention_days });
  show("consent");
}

async function acceptConsent() {
  if (busy) return;
  if (!$("consent-checkbox").checked) {
    showAlert(t("consent_required"));
    $("consent-checkbox").focus();
    return;
  }
  setBusy(true);
  try {
    state = await api.consent();
    route();
  } catch (error) {
    showAlert(errorMessage(error));
  } finally {
    setBusy(false);
  }
}

// -- document choice -------------------------------------------------------------------------

// The server lists only the types the partner accepts: the earlier choice if still offered, else
// the passport, else the first (the only one, when the partner accepts one type).
function preselectedType(types) {
  if (types.includes(state.document.type)) return state.document.type;
  return types.includes("passport") ? "passport" : types[0];
}

function showDocument() {
  const list = $("document-types");
  list.textContent = "";
  const chosen = preselectedType(state.document.types);
  for (const type of state.document.types) {
    const label = document.createElement("label");
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "document-type";
    input.value = type;
    input.id = `document-type-${type}`;
    input.checked = type === chosen;
    label.append(input, document.createTextNode(t(`doc_${type}`)));
    list.append(label);
  }
  // The partner's country if the list (only the accepted countries) has it; the one country on
  // the list when the partner accepts only one.
  const only = countries.countries.length === 1 ? countries.countries[0].name : "";
  $("document-country").value = countries.nameOf(state.document.country) || only;
  $("document-country").removeAttribute("aria-invalid");
  show("document");
}

// The same words as the hint under the field, so the two never disagree.
function countryRefused() {
  $("document-country").setAttribute("aria-invalid", "true");
  showAlert(t("country_invalid"));
  $("document-country").focus();
}

// A choice the partner does not accept (422 document_not_accepted, keyed by `type` and `country`):
// the page offers only accepted ones, so this comes when the partner's settings changed after the
// page drew its choices, or a code was typed while the list could not load.
function documentNotAccepted(fields) {
  const messages = [];
  if (fields.type) messages.push(t("document_type_not_accepted"));
  if (fields.country) messages.push(t("country_not_accepted"));
  showAlert(messages.join(" ") || t("error_generic"));
  if (fields.country) {
    $("document-country").setAttribute("aria-invalid", "true");
    $("document-country").focus();
  } else {
    document.querySelector('input[name="document-type"]:checked')?.focus();
  }
}

async function chooseDocument(event) {
  event.preventDefault();
  if (busy) return;
  const type = document.querySelector('input[name="document-type"]:checked')?.value;
  const country = countries.codeOf($("document-country").value);
  if (!country) {
    countryRefused();
    return;
  }
  setBusy(true);
  try {
    state = await api.document(type, country);
  } catch (error) {
    const fields = (error instanceof ApiError && error.body.errors) || {};
    if (error.code === "document_not_accepted") documentNotAccepted(fields);
    else if (fields.country) countryRefused();
    else showAlert(errorMessage(error));
    return;
  } finally {
    setBusy(false);
  }
  // Not busy while the camera starts: a file can be picked at once.
  await showPhoto("front");
}

// -- document photos -------------------------------------------------------------------------

async function showPhoto(side) {
  photoSide = side;
  $("photo-title").textContent = t(side === "front" ? "front_title" : "back_title");
  $("photo-issues").hidden = true;
  $("photo-status").textContent = "";
  $("photo-status").className = "status";
  $("photo-file").value = "";
  show("photo");
  await startDocumentCamera();
}

async function startDocumentCamera() {
  const video = $("photo-video");
  if (video.srcObject) return;
  $("photo-status").textContent = t("camera_starting");
  try {
    await openCamera(video, "environment");
    $("photo-camera").hidden = false;
    $("photo-take").hidden = false;
    $("photo-status").textContent = "";
  } catch (error) {
    if (!(error instanceof NoCamera)) throw error;
    $("photo-camera").hidden = true;
    $("photo-take").hidden = true;
    $("photo-status").textContent = t("camera_unavailable_document");
  }
}

async function takePhoto() {
  if (busy) return;
  const blob = await grabFrame($("photo-video"), $("photo-canvas"), DOCUMENT_MAX_SIDE);
  await uploadPhoto(blob, `${photoSide}.jpg`);
}

async function pickPhoto() {
  const file = $("photo-file").files[0];
  if (!file || busy) return;
  await uploadPhoto(file, file.name);
}

async function uploadPhoto(blob, filename) {
  let next = null;
  setBusy(true);
  $("photo-issues").hidden = true;
  $("photo-status").className = "status";
  $("photo-status").textContent = t("checking_photo");
  try {
    const result = await api.uploadDocument(photoSide, blob, filename);
    state = result.state;
    if (!result.accepted) {
      showIssues(result.issues);
      $("photo-status").textContent = "";
      $("photo-take").textContent = t("retake");
      return;
    }
    $("photo-status").textContent = t("photo_ok");
    $("photo-status").className = "status ok";
    $("photo-take").textContent = t("take_photo");
    if (photoSide === "front" && state.document.needs_back && !state.captured.document_back) {
      next = () => showPhoto("back");
    } else {
      stopCamera($("photo-video"));
      next = route;
    }
  } catch (error) {
    $("photo-status").textContent = "";
    showIssueText(errorMessage(error));
  } finally {
    $("photo-file").value = "";
    setBusy(false);
  }
  if (next) await next();
}

function showIssues(issues) {
  const box = $("photo-issues");
  box.textContent = "";
  for (const issue of issues.length ? issues : [{ code: "generic" }]) {
    const line = document.createElement("p");
    line.dataset.code = issue.code;
    line.textContent = has(`quality_${issue.code}`) ? t(`quality_${issue.code}`) : issue.message || t("quality_generic");
    box.append(line);
  }
  box.hidden = false;
}

function showIssueText(message) {
  if (!message) return;
  $("photo-issues").textContent = message;
  $("photo-issues").hidden = false;
}

// -- selfie with the liveness challenge --------------------------------------------------------

// What to change, in the applicant's words, for a framing problem the server found.
function selfieIssueText(code) {
  return has(`selfie_issue_${code}`) ? t(`selfie_issue_${code}`) : t("selfie_issue_generic");
}

// Only a change is written: the framing answer comes every ~400 ms, and a live region that is
// rewritten with the same words may be read out again each time.
function setSelfieFeedback(text, kind = "") {
  const feedback = $("selfie-feedback");
  const className = `status ${kind}`.trim();
  if (feedback.textContent !== text) feedback.textContent = text;
  if (feedback.className !== className) feedback.className = className;
}

function showSelfie() {
  stopCamera($("photo-video"));
  $("selfie-prompt").textContent = "";
  $("selfie-progress").textContent = "";
  setSelfieFeedback("");
  $("no-camera").hidden = true;
  $("selfie-start").hidden = false;
  $("selfie-start").textContent = t("selfie_start");
  show("selfie");
}

function showNoCamera() {
  $("selfie-camera").hidden = true;
  $("selfie-start").hidden = true;
  $("qr-code").src = api.qrUrl();
  $("qr-code").alt = t("qr_alt");
  $("no-camera").hidden = false;
  $("no-camera").querySelector("h2").focus?.();
}

function showPrompt(prompt, index, total) {
  $("selfie-prompt").textContent = t(`prompt_${prompt}`);
  $("selfie-progress").textContent = index >= 0 ? t("prompt_progress", { n: index + 1, total }) : "";
  if (prompt === "neutral") delete document.body.dataset.prompt;
  else document.body.dataset.prompt = prompt;
}

async function runSelfie() {
  if (busy) return;
  setBusy(true);
  hideAlert();
  const video = $("selfie-video");
  try {
    try {
      await openCamera(video, "user");
    } catch (error) {
      if (error instanceof NoCamera) {
        showNoCamera();
        return;
      }
      throw error;
    }
    $("no-camera").hidden = true;
    $("selfie-camera").hidden = false;
    $("selfie-start").hidden = true;
    // Framing first: nothing is stored until the face is found, large enough and frontal.
    document.body.dataset.selfiePhase = "framing";
    setSelfieFeedback(t("selfie_framing"));
    await waitForGoodFraming(api, video, $("selfie-canvas"), {
      onIssue: (code) => setSelfieFeedback(selfieIssueText(code), "issue"),
    });
    setSelfieFeedback(t("selfie_framing_ok"), "ok");
    document.body.dataset.selfiePhase = "challenge";
    const challenge = await api.challenge();
    const frames = await captureChallenge(video, $("selfie-canvas"), challenge, {
      onPrompt: (prompt, index) => showPrompt(prompt, index, challenge.prompts.length),
    });
    delete document.body.dataset.prompt;
    document.body.dataset.selfiePhase = "upload";
    $("selfie-progress").textContent = "";
    $("selfie-prompt").textContent = t("selfie_uploading");
    setSelfieFeedback("");
    const result = await api.uploadSelfie(challenge.id, frames);
    state = result.state;
    stopCamera(video);
    $("selfie-camera").hidden = true;
    route();
  } catch (error) {
    stopCamera(video);
    delete document.body.dataset.prompt;
    $("selfie-camera").hidden = true;
    $("selfie-prompt").textContent = "";
    $("selfie-progress").textContent = "";
    setSelfieFeedback("");
    // Shown again for every refusal but the link's last (outOfChallenges hides it there).
    $("selfie-start").hidden = false;
    $("selfie-start").textContent = t("selfie_retry");
    if (error instanceof ApiError && error.code === "challenge_limit_reached") {
      await outOfChallenges();
      return;
    }
    showAlert(error instanceof FramingTimeout ? selfieIssueText(error.message) : errorMessage(error));
  } finally {
    delete document.body.dataset.selfiePhase;
    setBusy(false);
  }
}

// The link drew as many challenges as the partner allows: another try would only be refused
// again. A selfie taken before, here or on another device (the state is read again), can still
// be sent (back to the review); otherwise only a new link from the partner helps, which the
// message says.
async function outOfChallenges() {
  try {
    state = await api.state();
  } catch {
    // the state as last read: the message below is still the right one for it
  }
  if (state.captured.selfie) {
    route();
    showAlert(t("error_challenge_limit_kept"));
    return;
  }
  $("selfie-start").hidden = true;
  showAlert(t("error_challenge_limit"));
}

// -- review, submit, done ----------------------------------------------------------------------

function showReview() {
  const list = $("review-thumbs");
  list.textContent = "";
  const items = [["document_front", "review_front", () => showPhoto("front")]];
  if (state.document.needs_back) items.push(["document_back", "review_back", () => showPhoto("back")]);
  items.push(["selfie", "review_selfie", showSelfie]);
  for (const [field, label, retake] of items) {
    const item = document.createElement("li");
    const image = document.createElement("img");
    image.src = api.imageUrl(field);
    image.alt = t(label);
    image.id = `thumb-${field}`;
    const caption = document.createElement("p");
    caption.className = "caption";
    caption.textContent = t(label);
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button secondary";
    button.id = `retake-${field}`;
    button.textContent = t("retake");
    button.setAttribute("aria-label", `${t("retake")}: ${t(label)}`);
    button.addEventListener("click", retake);
    item.append(image, caption, button);
    list.append(item);
  }
  show("review");
}

async function submit() {
  if (busy) return;
  setBusy(true);
  $("submit").textContent = t("submitting");
  try {
    const result = await api.submit();
    showDone(result.redirect_url);
  } catch (error) {
    showAlert(errorMessage(error));
    $("submit").textContent = t("submit");
  } finally {
    setBusy(false);
  }
}

function showDone(redirectUrl) {
  show("done");
  if (!redirectUrl) return;
  $("done-redirect").textContent = t("done_redirect", { partner: state.branding.name || "" });
  $("done-redirect").hidden = false;
  $("done-return").href = redirectUrl;
  $("done-return").hidden = false;
  setTimeout(() => window.location.assign(redirectUrl), 1500);
}

// -- start -----------------------------------------------------------------------------------

async function main() {
  const params = new URLSearchParams(window.location.search);
  const profileId = window.location.pathname.split("/").filter(Boolean).pop();
  const apiBase = document.querySelector('meta[name="ekyc-api"]').content;
  apiIsRemote = new URL(apiBase, window.location.href).origin !== window.location.origin;
  api = new FlowApi(apiBase, profileId, params.get("t") || "", params.get("lang") || "");
  try {
    state = await api.start();
  } catch (error) {
    // No state, so no server-chosen language: the link's, else the browser's (English if unknown).
    const lang = (params.get("lang") || navigator.language || "en").slice(0, 2).toLowerCase();
    await loadStrings(STATIC_BASE, lang).catch(() => {});
    applyStrings();
    if (error instanceof ApiError && error.code.startsWith("link_")) {
      linkStopped(error);
      return;
    }
    showAlert(errorMessage(error));
    return;
  }
  api.lang = state.lang;
  // The list only helps: without it a typed code still works (and the server checks it).
  const [, listed] = await Promise.all([
    loadStrings(STATIC_BASE, state.lang),
    api.countries().catch(() => ({ countries: [] })),
  ]);
  countries = new CountryList(listed.countries);
  countries.fill($("country-list"));
  applyStrings();
  applyBranding(state.branding);
  $("consent-continue").addEventListener("click", acceptConsent);
  $("document-form").addEventListener("submit", chooseDocument);
  $("document-country").addEventListener("input", () => $("document-country").removeAttribute("aria-invalid"));
  $("photo-take").addEventListener("click", takePhoto);
  $("photo-file").addEventListener("change", pickPhoto);
  $("selfie-start").addEventListener("click", runSelfie);
  $("no-camera-retry").addEventListener("click", runSelfie);
  $("submit").addEventListener("click", submit);
  route();
}

main();

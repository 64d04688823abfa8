// Checks partners.settings on writes that bypass the gateway (an operator editing the JSON in the
// admin UI): the rules a decision depends on (known keys, threshold order, weights summing to 100,
// face-match threshold) and the shapes the capture flow and profile creation read (branding,
// retention_days, link_ttl_s, the liveness group; a value of another shape stored before this
// check is read as its default there). The full validation, with every field, runs in
// gateway/services/partner_settings.py (API and CLI); this is a subset of it, never stricter. The
// worker runs the full validation before each decision and sends the profile to manual review
// rather than decide under settings that fail it.

function settingsProblems(settings) {
  const KNOWN = [
    "thresholds", "weights", "required_checks", "face_match_threshold", "min_age",
    "allowed_document_types", "allowed_countries", "link_ttl_s", "rate_limit",
    "capture_upload_rate_limit", "retention_days",
    "allowed_return_urls", "branding", "liveness", "kya", "review_email", "registry",
    "require_signed_requests", "quotas",
  ];
  const problems = {};
  if (settings === null || settings === undefined) return problems;
  if (typeof settings !== "object" || Array.isArray(settings)) {
    problems.settings = "must be a JSON object";
    return problems;
  }
  for (const key of Object.keys(settings)) {
    if (KNOWN.indexOf(key) === -1) problems[key] = "unknown setting";
  }
  const isNumber = (v) => typeof v === "number" && isFinite(v);
  const thresholds = Object.assign({ approve: 80, review: 60 }, settings.thresholds || {});
  if (!isNumber(thresholds.approve) || !isNumber(thresholds.review) ||
      thresholds.review < 0 || thresholds.approve > 100 || thresholds.review > thresholds.approve) {
    problems.thresholds = "need 0 <= review <= approve <= 100";
  }
  const weights = Object.assign({ liveness: 30, face_match: 40, document: 25, kya: 5 }, settings.weights || {});
  const names = ["liveness", "face_match", "document", "kya"];
  if (names.some((n) => !isNumber(weights[n]) || weights[n] < 0) ||
      Math.abs(names.reduce((sum, n) => sum + weights[n], 0) - 100) > 1e-6) {
    problems.weights = "liveness, face_match, document and kya must be non-negative and sum to 100";
  }
  if ("quotas" in settings) {
    // The same rule as gateway/services/quotas.py: a wrong quota would otherwise read as "none".
    const CHECKS = ["liveness", "document_ocr", "document_validate", "face_match", "verification"];
    const quotas = settings.quotas;
    const valid = quotas !== null && typeof quotas === "object" && !Array.isArray(quotas) &&
      Object.keys(quotas).every((check) => {
        const entry = quotas[check];
        return CHECKS.indexOf(check) !== -1 && entry !== null && typeof entry === "object" &&
          Object.keys(entry).length === 1 && Number.isInteger(entry.monthly) &&
          entry.monthly >= 0 && entry.monthly <= 100000000;
      });
    if (!valid) problems.quotas = "must be {check: {monthly: N}} with N an integer from 0";
  }
  const isInteger = (v, low, high) => Number.isInteger(v) && v >= low && v <= high;
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  if ("retention_days" in settings && !isInteger(settings.retention_days, 1, 3650)) {
    problems.retention_days = "must be an integer from 1 to 3650";
  }
  if ("link_ttl_s" in settings && settings.link_ttl_s !== null &&
      !isInteger(settings.link_ttl_s, 300, 2592000)) {
    problems.link_ttl_s = "must be an integer from 300 to 2592000, or null";
  }
  if ("branding" in settings) {
    const brand = settings.branding;
    if (!isObject(brand) ||
        ("accent_color" in brand && !/^#[0-9a-fA-F]{6}$/.test(String(brand.accent_color))) ||
        ("name" in brand && brand.name !== null && typeof brand.name !== "string")) {
      problems.branding = "must be {name: text or null, accent_color: #rrggbb}";
    }
  }
  if ("liveness" in settings) {
    const liveness = settings.liveness;
    if (!isObject(liveness) ||
        ("prompts" in liveness && !(Array.isArray(liveness.prompts) && liveness.prompts.length &&
          liveness.prompts.every((p) => typeof p === "string"))) ||
        ("prompt_count" in liveness && !isInteger(liveness.prompt_count, 1, 6)) ||
        ("max_challenges" in liveness && !isInteger(liveness.max_challenges, 1, 20))) {
      problems.liveness = "must be {prompts: [names], prompt_count: 1-6, max_challenges: 1-20}";
    }
  }
  if ("face_match_threshold" in settings) {
    const t = settings.face_match_threshold;
    if (!isNumber(t) || t <= 0 || t >= 1) problems.face_match_threshold = "must be between 0 and 1";
  }
  return problems;
}

function guardSettings(record) {
  const raw = record.getString("settings");
  let settings = null;
  try {
    settings = raw ? JSON.parse(raw) : null;
  } catch (err) {
    throw new BadRequestError("Partner settings are not valid JSON.");
  }
  const problems = settingsProblems(settings);
  const keys = Object.keys(problems);
  if (keys.length) {
    throw new BadRequestError(`Invalid partner settings: ${keys.map((k) => `${k}: ${problems[k]}`).join("; ")}`, {
      settings: new ValidationError("invalid_settings", keys.map((k) => `${k}: ${problems[k]}`).join("; ")),
    });
  }
}

module.exports = { settingsProblems, guardSettings };

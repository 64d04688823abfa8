// Calls to the gateway. The capture token travels in X-Capture-Token, never in a cookie.

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.code = body?.code || (status === 0 ? "network" : "http_error");
    this.body = body || {};
  }
}

export class FlowApi {
  constructor(base, profileId, token, lang) {
    this.base = `${base}/${encodeURIComponent(profileId)}`;
    this.token = token;
    this.lang = lang;
  }

  url(path, withToken = false) {
    const params = new URLSearchParams();
    if (this.lang) params.set("lang", this.lang);
    if (withToken) params.set("t", this.token);
    const query = params.toString();
    return `${this.base}${path}${query ? `?${query}` : ""}`;
  }

  async call(method, path, body) {
    const headers = { "X-Capture-Token": this.token };
    const options = { method, headers, credentials: "omit", cache: "no-store" };
    if (body instanceof FormData) {
      options.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(this.url(path), options);
    } catch (error) {
      throw new ApiError(0, { code: "network", detail: String(error) });
    }
    let payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok) throw new ApiError(response.status, payload);
    return payload;
  }

  start() { return this.call("POST", "/start"); }
  state() { return this.call("GET", "/state"); }
  consent() { return this.call("POST", "/consent", { accepted: true }); }
  countries() { return this.call("GET", "/countries"); }
  document(type, country) { return this.call("POST", "/document", { type, country }); }

  uploadDocument(side, blob, filename) {
    const form = new FormData();
    form.append("file", blob, filename || `${side}.jpg`);
    return this.call("POST", `/document/${side}`, form);
  }

  challenge() { return this.call("POST", "/challenge"); }

  // One still, checked for framing and not stored: {ok, issue: {code, message} | null}.
  checkSelfie(blob) {
    const form = new FormData();
    form.append("file", blob, "check.jpg");
    return this.call("POST", "/selfie/check", form);
  }

  uploadSelfie(challengeId, frames) {
    const form = new FormData();
    form.append("challenge_id", challengeId);
    form.append("meta", JSON.stringify(frames.map(({ prompt, t_ms }) => ({ prompt, t_ms }))));
    frames.forEach((frame, index) => form.append("frames", frame.blob, `frame${index}.jpg`));
    return this.call("POST", "/selfie", form);
  }

  submit() { return this.call("POST", "/submit"); }

  imageUrl(field) { return `${this.url(`/image/${field}`, true)}&v=${Date.now()}`; }
  qrUrl() { return this.url("/qr.svg", true); }
}

// Who wrote through the records API: the platform (the gateway, the worker, the CLI) or a person
// in the admin UI. Both sign in as the same superuser, so the token cannot tell them apart; the
// platform's client marks every request with X-Ekyc-Platform, an HMAC-SHA256 of "ekyc platform
// writes" keyed with the superuser password (gateway/services/pocketbase_transport.py), which
// this server reads from its environment (PB_SUPERUSER_PASSWORD: `ekyc up` and the test fixture
// pass it, docker-compose.yml sets it). The admin UI is a browser page that sends no such header,
// and the mark cannot be read from anything the admin UI shows. Without the password in the
// environment no request is the platform's: its writes of its own fields are refused, loudly.

const CONTEXT = "ekyc platform writes";

// Whether the request of the record event `e` was sent by the platform's client.
function isPlatformWrite(e) {
  const password = $os.getenv("PB_SUPERUSER_PASSWORD");
  const sent = String(e.requestInfo().headers["x_ekyc_platform"] || ""); // names as requestInfo keys them
  if (!password || !sent || !e.hasSuperuserAuth()) return false;
  return $security.equal(sent, $security.hs256(CONTEXT, password));
}

module.exports = { isPlatformWrite };

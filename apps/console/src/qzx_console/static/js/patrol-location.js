// The unit's position while its officer is signed in on this phone: the fixes of
// navigator.geolocation.watchPosition, at most one sent every LOCATION_EVERY_MS (the first at once),
// always the newest. A position is never queued: offline, or when sending fails, it is dropped and
// the next fix goes instead (dispatch keeps the newest by its time anyway).

export const LOCATION_EVERY_MS = 20000;

// send(fix) → {status, body} (or throws when the network is gone); onState(state, detail) with
// state one of: locating, shared (detail: the fix's time), denied, unavailable, offline, off_duty,
// failed (detail: the error code).
export function shareLocation(send, onState) {
  if (!navigator.geolocation) return onState("unavailable");
  let newest = null;
  let sentAt = -Infinity;
  let timer = null;

  async function sendNewest() {
    timer = null;
    const fix = newest;
    newest = null;
    if (!navigator.onLine) return onState("offline");
    sentAt = Date.now();
    let reply;
    try {
      reply = await send(fix);
    } catch {
      return onState("offline");
    }
    if (reply.status === 200) onState("shared", fix.at);
    else if (reply.body.error === "not_on_crew") onState("off_duty"); // not on the unit's current roster
    else onState("failed", reply.body.error || String(reply.status));
  }

  function onFix(position) {
    const { latitude, longitude } = position.coords;
    newest = { lat: latitude, lon: longitude, at: new Date(position.timestamp).toISOString() };
    if (!timer) timer = setTimeout(sendNewest, Math.max(0, sentAt + LOCATION_EVERY_MS - Date.now()));
  }

  function onError(error) {
    onState(error.code === error.PERMISSION_DENIED ? "denied" : "unavailable");
  }

  onState("locating");
  navigator.geolocation.watchPosition(onFix, onError, { enableHighAccuracy: true, maximumAge: 10000 });
}

// The status page refreshes its live part every 10 s (while visible and switched on)
// by fetching the same server-rendered page: no JSON API, no client-side templates.
"use strict";
(function () {
  const toggle = document.getElementById("auto-refresh");
  if (!toggle) return;
  toggle.disabled = false;
  const PERIOD_MS = 10000;
  let busy = false;

  async function refresh() {
    if (!toggle.checked || document.hidden || busy) return;
    busy = true;
    try {
      const resp = await fetch(location.href, { credentials: "omit", cache: "no-store" });
      if (!resp.ok && resp.status !== 503) return;
      const doc = new DOMParser().parseFromString(await resp.text(), "text/html");
      const fresh = doc.getElementById("live");
      const live = document.getElementById("live");
      if (fresh && live) live.replaceWith(document.importNode(fresh, true));
    } catch (err) {
      // The gateway did not answer: keep what is shown; the next tick tries again.
    } finally {
      busy = false;
    }
  }
  setInterval(refresh, PERIOD_MS);
  document.addEventListener("visibilitychange", refresh);
})();

// The module page's "try it" form: runs the module through the public API and shows
// output, outcome and time. No credentials are sent (the API needs none to invoke).
"use strict";
(function () {
  const form = document.getElementById("try-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const button = form.querySelector("button[type=submit]");
  button.disabled = false;

  function show(outcome, ok, status, millis, extra, output, traceId) {
    $("try-result").hidden = false;
    const o = $("try-outcome");
    o.textContent = outcome;
    o.className = ok ? "outcome ok" : "outcome fail";
    $("try-status").textContent = status;
    $("try-time").textContent = millis.toFixed(1) + " ms round trip" + (extra ? " · " + extra : "");
    const trace = $("try-trace");
    trace.textContent = "";
    if (traceId && /^[0-9a-f]{32}$/.test(traceId)) {
      const a = document.createElement("a");
      a.href = "/traces/" + traceId;
      a.textContent = traceId.slice(0, 8) + "…";
      trace.appendChild(a);
    } else {
      trace.textContent = "–";
    }
    $("try-output").textContent = output;
  }

  function request() {
    if (form.dataset.mode === "function") {
      const raw = $("try-args").value.trim();
      const args = raw ? raw.split(",").map((s) => Number(s.trim())) : [];
      const bad = raw ? raw.split(",").find((s) => s.trim() === "" || Number.isNaN(Number(s.trim()))) : undefined;
      if (bad !== undefined) throw new Error("arguments must be numbers separated by commas; got " + JSON.stringify(bad.trim()));
      return [form.dataset.path + encodeURIComponent($("try-function").value), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ args: args }),
      }];
    }
    const query = $("try-query").value.trim().replace(/^\?/, "");
    return [form.dataset.path + (query ? "?" + query : ""), {
      method: "POST",
      headers: { "Content-Type": "text/plain; charset=utf-8" },
      body: $("try-body").value,
    }];
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let url, init;
    try {
      [url, init] = request();
    } catch (err) {
      show("invalid input", false, "not sent", 0, "", err.message, "");
      return;
    }
    button.disabled = true;
    const started = performance.now();
    try {
      const resp = await fetch(url, Object.assign(init, { credentials: "omit", cache: "no-store" }));
      const text = await resp.text();
      const millis = performance.now() - started;
      const status = resp.status + " " + resp.statusText;
      const traceId = resp.headers.get("X-Trace-Id") || "";
      const type = resp.headers.get("Content-Type") || "";
      if (type.startsWith("application/problem+json")) {
        const problem = JSON.parse(text);
        const lines = [problem.detail || problem.title];
        if (problem.stderr) lines.push("", "stderr:", problem.stderr);
        show(problem.outcome || problem.title || "error", false, status, millis, "", lines.join("\n"), traceId);
      } else if (form.dataset.mode === "function" && resp.ok) {
        const doc = JSON.parse(text);
        const extra = doc.wall_time_us + " µs in the guest · " + doc.fuel_consumed + " fuel";
        const output = "results: " + JSON.stringify(doc.results) + "\ntypes:   " + JSON.stringify(doc.types);
        show("ok", true, status, millis, extra, output, traceId);
      } else {
        show(resp.ok ? "ok" : "HTTP " + resp.status, resp.ok, status, millis, "", text, traceId);
      }
    } catch (err) {
      show("network error", false, "no answer", performance.now() - started, "", String(err), "");
    } finally {
      button.disabled = false;
    }
  });
})();

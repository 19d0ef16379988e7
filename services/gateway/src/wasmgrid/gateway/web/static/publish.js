// The publish form: a multipart PUT to the API with the token in the Authorization
// header (never in a URL, a cookie or the page), upload progress, then the report.
"use strict";
(function () {
  const form = document.getElementById("publish-form");
  if (!form) return;
  const $ = (id) => document.getElementById(id);
  const button = form.querySelector("button[type=submit]");
  const progressBox = form.querySelector(".progress");
  const maxBytes = Number(form.dataset.maxBytes);
  button.disabled = false;

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }
  function kib(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }
  function fact(dl, name, value) {
    const div = el("div");
    div.append(el("dt", name), el("dd", value));
    dl.appendChild(div);
  }

  function result(nodes) {
    const body = $("pub-result-body");
    body.replaceChildren(...nodes);
    $("pub-result").hidden = false;
    $("pub-result-heading").focus();
  }

  function failure(message) {
    result([el("p", message, "notice error")]);
  }

  function report(v) {
    const nodes = [];
    const ok = el("p", "", "notice ok");
    const link = el("a", v.name + "@" + v.version);
    link.href = "/modules/" + v.name + "?version=" + encodeURIComponent(v.version);
    ok.append("Published ", link, ".");
    nodes.push(ok);
    const r = v.validation || {};
    const dl = el("dl", undefined, "facts wide");
    fact(dl, "Digest", "sha256:" + v.digest);
    fact(dl, "Size", kib(Number(v.size_bytes)));
    fact(dl, "Valid", r.valid ? "yes" : "no");
    if (r.kind && r.kind !== "MODULE_KIND_UNSPECIFIED") fact(dl, "Kind", r.kind.replace("MODULE_KIND_", "").toLowerCase());
    if (r.features && r.features.length) fact(dl, "Features", r.features.join(", "));
    fact(dl, "Imports", String((r.imports || []).length));
    fact(dl, "Exports", (r.exports || []).map((e) => e.name).join(", ") || "none");
    if (v.assets) {
      fact(dl, "Assets", v.assets.file_count + " files (" + kib(Number(v.assets.content_bytes)) + ") at " + v.assets.mount);
      fact(dl, "Assets digest", "sha256:" + v.assets.digest);
    }
    nodes.push(dl);
    const findings = r.findings || [];
    if (findings.length) {
      const ul = el("ul", undefined, "findings");
      for (const f of findings) {
        const sev = (f.severity || "").replace("SEVERITY_", "").toLowerCase();
        const li = el("li");
        li.append(el("span", sev, "sev sev-" + sev), " ", el("code", f.code), " ", f.message);
        ul.appendChild(li);
      }
      nodes.push(el("h3", "Findings"), ul);
    } else {
      nodes.push(el("p", "The scan found nothing to report.", "muted"));
    }
    return nodes;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = $("pub-token").value.trim();
    const file = $("pub-file").files[0];
    const name = $("pub-name").value.trim();
    const version = $("pub-version").value.trim();
    const parts = name.split("/");
    if (!token) return failure("API token: required.");
    if (!file) return failure("WebAssembly file: choose a .wasm file.");
    if (file.size > maxBytes) return failure("WebAssembly file: " + kib(file.size) + " exceeds the " + kib(maxBytes) + " limit.");
    if (parts.length !== 2 || !parts[0] || !parts[1]) return failure("Name: " + JSON.stringify(name) + " is not namespace/name.");
    if (!version) return failure("Version: required, e.g. 1.0.0.");
    const metadata = {};
    for (const key of ["description", "license", "category", "homepage", "repository"]) {
      const value = $("pub-" + key).value.trim();
      if (value) metadata[key] = value;
    }
    const tags = $("pub-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    if (tags.length) metadata.tags = tags;
    const assets = $("pub-assets").files[0];
    const mount = $("pub-assets-mount").value.trim();
    if (mount && !assets) return failure("Assets path: choose an assets archive too.");
    if (mount) metadata.assets_mount = mount;
    if (assets && file.size + assets.size > maxBytes) return failure("Module and assets: " + kib(file.size + assets.size) + " exceed the " + kib(maxBytes) + " limit.");
    const body = new FormData();
    body.append("metadata", new Blob([JSON.stringify(metadata)], { type: "application/json" }));
    body.append("module", file, file.name);
    if (assets) body.append("assets", assets, assets.name);

    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/v1/modules/" + parts.map(encodeURIComponent).join("/") + "/" + encodeURIComponent(version));
    xhr.setRequestHeader("Authorization", "Bearer " + token);
    xhr.withCredentials = false;
    const bar = $("pub-progress");
    const text = $("pub-progress-text");
    bar.value = 0;
    progressBox.hidden = false;
    button.disabled = true;
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.value = Math.round((e.loaded / e.total) * 100);
      text.textContent = kib(e.loaded) + " of " + kib(e.total);
    });
    xhr.upload.addEventListener("load", () => { text.textContent = "uploaded; validating…"; });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      let doc = null;
      try { doc = JSON.parse(xhr.responseText); } catch (err) { doc = null; }
      if (xhr.status === 201 && doc && doc.version) {
        text.textContent = "done";
        result(report(doc.version));
      } else {
        text.textContent = "refused";
        const detail = doc && (doc.detail || doc.title) ? doc.detail || doc.title : xhr.statusText;
        failure(xhr.status + " · " + detail);
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      text.textContent = "failed";
      failure("The upload failed: the gateway could not be reached.");
    });
    xhr.send(body);
  });
})();

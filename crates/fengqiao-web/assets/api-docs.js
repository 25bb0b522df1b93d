// Renders /api/v1/openapi.json: operations with their parameters, bodies and responses, the
// authentication schemes and every schema. Text goes in as text nodes, never parsed as
// markup, so nothing in the document can inject any; no inline script, so the CSP holds.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

function refName(s) {
  return s && s.$ref ? s.$ref.split("/").pop() : null;
}

// A one-line description of a schema, with links to named ones.
function typeOf(s) {
  if (!s) return el("span", {}, "any");
  const name = refName(s);
  if (name) return el("a", { href: "#schema-" + name }, name);
  if (s.oneOf) {
    const span = el("span");
    s.oneOf.forEach((x, i) => { if (i) span.append(" | "); span.append(typeOf(x)); });
    return span;
  }
  if (s.const !== undefined) return el("code", {}, JSON.stringify(s.const));
  if (s.enum) return el("span", {}, "one of ", el("code", {}, s.enum.map((v) => JSON.stringify(v)).join(", ")));
  const t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || "any");
  if (s.type === "array" || (Array.isArray(s.type) && s.type.includes("array"))) {
    return el("span", {}, "array of ", typeOf(s.items));
  }
  const bounds = [];
  if (s.minimum !== undefined) bounds.push("≥ " + s.minimum);
  if (s.maximum !== undefined) bounds.push("≤ " + s.maximum);
  if (s.minLength !== undefined) bounds.push("length ≥ " + s.minLength);
  if (s.maxLength !== undefined) bounds.push("length ≤ " + s.maxLength);
  if (s.pattern) bounds.push("matching " + s.pattern);
  return el("span", {}, t + (bounds.length ? " (" + bounds.join(", ") + ")" : ""));
}

function propertiesTable(s) {
  if (!s || !s.properties) return null;
  const req = new Set(s.required || []);
  const body = el("tbody");
  for (const [name, p] of Object.entries(s.properties)) {
    body.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, req.has(name) ? "required" : ""),
      el("td", {}, typeOf(p)), el("td", {}, p.description || "")));
  }
  return el("table", {}, el("thead", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, ""), el("th", {}, "type"), el("th", {}, ""))), body);
}

function render(doc) {
  document.getElementById("title").textContent = doc.info.title + " " + doc.info.version + " (OpenAPI " + doc.openapi + ")";
  const desc = document.getElementById("description");
  desc.textContent = doc.info.description || "";
  desc.append(" ", el("a", { href: "/api/v1/openapi.json" }, "openapi.json"));

  const auth = document.getElementById("auth");
  auth.append(el("h2", {}, "Authentication"));
  const dl = el("dl");
  for (const [name, s] of Object.entries((doc.components || {}).securitySchemes || {})) {
    const what = s.type === "http" ? "HTTP " + s.scheme : s.type + " in " + s.in + " " + s.name;
    dl.append(el("dt", {}, el("code", {}, name), " — " + what), el("dd", {}, s.description || ""));
  }
  auth.append(dl);

  const toc = document.getElementById("toc");
  const list = el("ul");
  const ops = document.getElementById("operations");
  ops.append(el("h2", {}, "Operations"));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const id = "op-" + (op.operationId || method + path);
      list.append(el("li", {}, el("a", { href: "#" + id }, method.toUpperCase() + " " + path)));
      const sec = el("section", { id: id, class: "operation" });
      sec.append(el("h3", {}, el("code", {}, method.toUpperCase() + " " + path)), el("p", {}, op.summary || ""));
      const who = (op.security || doc.security || []).map((r) => Object.keys(r).join(" + ")).join(" or ");
      sec.append(el("p", {}, "Authentication: " + (who || "none")));
      if (op.parameters && op.parameters.length) {
        const body = el("tbody");
        for (const p of op.parameters) {
          body.append(el("tr", {}, el("td", {}, el("code", {}, p.name)), el("td", {}, p.in + (p.required ? ", required" : "")),
            el("td", {}, typeOf(p.schema)), el("td", {}, p.description || "")));
        }
        sec.append(el("h4", {}, "Parameters"), el("table", {}, body));
      }
      if (op.requestBody) {
        const [media, c] = Object.entries(op.requestBody.content)[0];
        sec.append(el("h4", {}, "Body"), el("p", {}, media + ": ", typeOf(c.schema)));
      }
      const rb = el("tbody");
      for (const [code, r] of Object.entries(op.responses || {})) {
        const c = r.content ? Object.entries(r.content)[0] : null;
        rb.append(el("tr", {}, el("td", {}, code), el("td", {}, r.description || ""), el("td", {}, c ? typeOf(c[1].schema) : "")));
      }
      sec.append(el("h4", {}, "Responses"), el("table", {}, rb));
      ops.append(sec);
    }
  }
  toc.append(list);

  const schemas = document.getElementById("schemas");
  schemas.append(el("h2", {}, "Schemas"));
  for (const [name, s] of Object.entries((doc.components || {}).schemas || {})) {
    const sec = el("section", { id: "schema-" + name, class: "schema" }, el("h3", {}, name));
    if (s.description) sec.append(el("p", {}, s.description));
    sec.append(propertiesTable(s) || el("p", {}, typeOf(s)));
    schemas.append(sec);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  fetch("/api/v1/openapi.json", { headers: { accept: "application/json" } })
    .then((r) => { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(render)
    .catch((e) => { document.getElementById("description").textContent = "Could not load the API document: " + e.message; });
});

// Renders /openapi.json without any library, building the page with DOM nodes and textContent
// only (no markup is ever parsed), so nothing in the document can inject any.
"use strict";

const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
};

const METHODS = ["get", "post", "put", "patch", "delete"];
let spec = null;

function refName(ref) {
  return ref.replace(/^#\/components\/schemas\//, "");
}

function resolve(schema) {
  if (schema && schema.$ref) return spec.components?.schemas?.[refName(schema.$ref)] ?? {};
  return schema ?? {};
}

function typeLabel(schema) {
  if (!schema) return "any";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.oneOf) return schema.oneOf.map(typeLabel).join(" | ");
  if (schema.allOf) return schema.allOf.map(typeLabel).join(" & ");
  let type = Array.isArray(schema.type) ? schema.type.join(" | ") : schema.type;
  if (type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    type = type.replace("array", `array of ${typeLabel(schema.items)}`);
  }
  if (schema.enum) type = `${type ?? ""} (${schema.enum.map((v) => JSON.stringify(v)).join(", ")})`;
  if (schema.format) type = `${type} (${schema.format})`;
  return type ?? "any";
}

// A schema as a nested list of its properties; `seen` stops cycles.
function renderSchema(schema, seen = new Set(), depth = 0) {
  const resolved = resolve(schema);
  const name = schema?.$ref ? refName(schema.$ref) : null;
  if (name && seen.has(name)) return el("span", { class: "muted" }, ` (${name}, see above)`);
  const nextSeen = new Set(seen);
  if (name) nextSeen.add(name);
  const target = resolved.items && !resolved.properties ? resolve(resolved.items) : resolved;
  const variants = target.oneOf ?? target.anyOf;
  if (variants && depth < 6) {
    const list = el("ul", { class: "schema" });
    variants.forEach((v) => list.append(el("li", {}, el("span", { class: "type" }, "one of: " + typeLabel(v)), renderSchema(v, nextSeen, depth + 1))));
    return list;
  }
  if (!target.properties || depth > 6) return null;
  const required = new Set(target.required ?? []);
  const list = el("ul", { class: "schema" });
  for (const [prop, propSchema] of Object.entries(target.properties)) {
    list.append(el("li", {},
      el("code", {}, prop), " ",
      el("span", { class: "type" }, typeLabel(propSchema)),
      required.has(prop) ? el("span", { class: "required" }, " required") : null,
      propSchema.description ? el("span", { class: "muted" }, " — " + propSchema.description) : null,
      renderSchema(propSchema.items ?? propSchema, nextSeen, depth + 1)));
  }
  return list;
}

function renderContent(content) {
  const block = el("div");
  for (const [mediaType, media] of Object.entries(content ?? {})) {
    block.append(el("div", {}, el("code", {}, mediaType), " ", el("span", { class: "type" }, typeLabel(media.schema))));
    const tree = media.schema ? renderSchema(media.schema) : null;
    if (tree) block.append(tree);
  }
  return block;
}

function renderOperation(path, method, op) {
  const body = el("div", { class: "body" });
  if (op.description) body.append(el("p", {}, op.description));
  if (op.security?.length) body.append(el("p", { class: "muted" }, "Requires an access token: Authorization: Bearer <token>."));
  const params = (op.parameters ?? []).map((p) => (p.$ref ? resolve(p) : p));
  if (params.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description")));
    for (const p of params) {
      table.append(el("tr", {},
        el("td", {}, el("code", {}, p.name), p.required ? el("span", { class: "required" }, " required") : null),
        el("td", {}, p.in), el("td", {}, el("span", { class: "type" }, typeLabel(p.schema))), el("td", {}, p.description ?? "")));
    }
    body.append(el("h4", {}, "Parameters"), table);
  }
  if (op.requestBody) {
    body.append(el("h4", {}, "Request body" + (op.requestBody.required ? "" : " (optional)")));
    if (op.requestBody.description) body.append(el("p", { class: "muted" }, op.requestBody.description));
    body.append(renderContent(op.requestBody.content));
  }
  const responses = el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Description"), el("th", {}, "Body")));
  for (const [status, response] of Object.entries(op.responses ?? {})) {
    const r = response.$ref ? resolve(response) : response;
    const types = Object.entries(r.content ?? {}).map(([t, m]) => `${t}: ${typeLabel(m.schema)}`).join("; ");
    responses.append(el("tr", {}, el("td", {}, el("code", {}, status)), el("td", {}, r.description ?? ""), el("td", {}, el("span", { class: "type" }, types))));
  }
  body.append(el("h4", {}, "Responses"), responses);
  const success = Object.entries(op.responses ?? {}).find(([s]) => s.startsWith("2"));
  if (success && success[1].content) {
    body.append(el("h4", {}, `Answer (${success[0]})`), renderContent(success[1].content));
  }
  const details = el("details", { class: "operation" },
    el("summary", {},
      el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("span", { class: "path" }, path),
      el("span", { class: "summary" }, op.summary ?? ""),
      op.security?.length ? el("span", { class: "lock" }, "token") : null),
    body);
  details.dataset.search = `${method} ${path} ${op.summary ?? ""}`.toLowerCase();
  return details;
}

function render() {
  document.getElementById("title").textContent = spec.info?.title ?? "API";
  document.getElementById("version").textContent = `Version ${spec.info?.version ?? "?"} · OpenAPI ${spec.openapi}`;
  document.getElementById("description").textContent = spec.info?.description ?? "";
  const byTag = new Map((spec.tags ?? []).map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(spec.paths ?? {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = item[method].tags?.[0] ?? "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(renderOperation(path, method, item[method]));
    }
  }
  const main = document.getElementById("operations");
  main.replaceChildren();
  for (const [tag, operations] of byTag) {
    if (!operations.length) continue;
    const description = (spec.tags ?? []).find((t) => t.name === tag)?.description;
    main.append(el("section", { class: "tag" }, el("h2", {}, tag), description ? el("p", { class: "muted" }, description) : null, ...operations));
  }
  const schemas = document.getElementById("schemas");
  for (const [name, schema] of Object.entries(spec.components?.schemas ?? {})) {
    schemas.append(el("details", { class: "operation", id: `schema-${name}` },
      el("summary", {}, el("span", { class: "path" }, name), el("span", { class: "summary" }, schema.description ?? "")),
      el("div", { class: "body" }, renderSchema({ $ref: `#/components/schemas/${name}` }) ?? el("span", { class: "type" }, typeLabel(schema)))));
  }
  document.getElementById("schemas-section").hidden = false;
}

function filter(text) {
  const needle = text.trim().toLowerCase();
  for (const op of document.querySelectorAll("#operations details.operation")) {
    op.hidden = needle !== "" && !op.dataset.search.includes(needle);
  }
}

document.addEventListener("DOMContentLoaded", async () => {
  document.getElementById("filter").addEventListener("input", (e) => filter(e.target.value));
  try {
    const response = await fetch("/openapi.json", { headers: { Accept: "application/json" } });
    if (!response.ok) throw new Error(`GET /openapi.json answered ${response.status}`);
    spec = await response.json();
    render();
  } catch (error) {
    const status = document.getElementById("status");
    status.textContent = `Cannot load the API document: ${error.message}`;
    status.className = "error";
  }
});

// segstream console: a small client of the console's JSON API (/api/openapi.json).
// No framework and no build step: views are rendered from the API's answers into
// #view, routed by the URL's hash. The editor is a textarea under a highlighted copy.
"use strict";

const $ = (selector, root = document) => root.querySelector(selector);
const view = () => $("#view");
const state = { vocabulary: null, caller: null, refresh: null, picked: new Map() };

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function say(message) {
  $("#status").textContent = message;
}

function alertBox(message) {
  const box = $("#alert");
  box.hidden = !message;
  box.textContent = message || "";
}

class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || "HTTP " + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(method, path, body, etag) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-Match"] = etag;
  const response = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed = null;
  try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = { error: text }; }
  if (response.status === 401) {
    showLogin();
    throw new ApiError(401, parsed);
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return { body: parsed, etag: response.headers.get("ETag") };
}

function el(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content.firstElementChild;
}

// ---- Highlighting: TOML tables with CEL conditions.
const TOKENS = /('''[\s\S]*?(?:'''|$)|"""[\s\S]*?(?:"""|$)|'[^'\n]*'?|"(?:[^"\\\n]|\\.)*"?)|(#[^\n]*)|(\[\[\s*segment\s*\]\])|(\b\d+(?:\.\d+)?[a-z]*\b)|(&&|\|\||!(?!=)|\b(?:true|false|in)\b)|(\b[a-z_][A-Za-z0-9_]*(?=\s*\())|(^\s*[a-z_]+(?=\s*=))/gm;

function highlight(text) {
  let out = "";
  let last = 0;
  text.replace(TOKENS, (match, string, comment, header, number, keyword, fn, key, offset) => {
    out += escapeHtml(text.slice(last, offset));
    const kind = string ? "string" : comment ? "comment" : header ? "header" : number ? "number" : keyword ? "kw" : fn ? "fn" : "key";
    if (string && /^'''|^"""/.test(string)) {
      // Highlight the condition inside a multi-line string as code.
      const quote = string.slice(0, 3);
      const inner = string.slice(3, string.endsWith(quote) && string.length >= 6 ? -3 : undefined);
      out += '<span class="tk-string">' + quote + "</span>" + highlightCondition(inner) + (string.length >= 6 && string.endsWith(quote) ? '<span class="tk-string">' + quote + "</span>" : "");
    } else {
      out += '<span class="tk-' + kind + '">' + escapeHtml(match) + "</span>";
    }
    last = offset + match.length;
    return match;
  });
  return out + escapeHtml(text.slice(last)) + "\n";
}

const CONDITION = /("(?:[^"\\\n]|\\.)*"?|'[^'\n]*'?)|(\b\d+(?:\.\d+)?\b)|(&&|\|\||\b(?:true|false|in)\b)|(\b[a-z_][A-Za-z0-9_]*(?=\s*\())/g;

function highlightCondition(text) {
  let out = "";
  let last = 0;
  text.replace(CONDITION, (match, string, number, keyword, fn, offset) => {
    out += escapeHtml(text.slice(last, offset));
    const kind = string ? "string" : number ? "number" : keyword ? "kw" : "fn";
    out += '<span class="tk-' + kind + '">' + escapeHtml(match) + "</span>";
    last = offset + match.length;
    return match;
  });
  return out + escapeHtml(text.slice(last));
}

// An editor: a textarea over its highlighted copy, checked as you type.
function mountEditor(container, text, segmentId, onChecked) {
  container.innerHTML = "";
  const box = el('<div class="editor"><pre aria-hidden="true"></pre><textarea id="editor" spellcheck="false" aria-label="Segment definition (TOML)" aria-describedby="problems"></textarea></div>');
  const problems = el('<ul id="problems" aria-live="polite"></ul>');
  const hint = el('<p class="muted">Tab moves focus out of the editor; the segment is checked as you type.</p>');
  container.append(box, problems, hint);
  const area = $("textarea", box);
  const pre = $("pre", box);
  area.value = text;
  let timer = null;
  let generation = 0;
  const render = () => {
    pre.innerHTML = highlight(area.value);
    pre.scrollTop = area.scrollTop;
  };
  const check = async () => {
    const mine = ++generation;
    try {
      const { body } = await api("POST", "/api/validate", { text: area.value, segment: segmentId || undefined });
      if (mine !== generation) return;
      problems.innerHTML = "";
      for (const p of body.problems) {
        problems.append(el("<li>line " + p.line + ", column " + p.col + ": " + escapeHtml(p.message) + "</li>"));
      }
      area.setAttribute("aria-invalid", String(!body.valid));
      box.setAttribute("aria-invalid", String(!body.valid));
      onChecked(body.valid, body);
    } catch (e) {
      if (mine === generation) onChecked(false, { problems: [] });
    }
  };
  area.addEventListener("input", () => {
    render();
    clearTimeout(timer);
    timer = setTimeout(check, 250);
  });
  area.addEventListener("scroll", () => { pre.scrollTop = area.scrollTop; });
  render();
  check();
  return area;
}

// ---- Line diff (longest common subsequence), for review before publish and history.
function diffLines(before, after) {
  const a = (before || "").split("\n");
  const b = (after || "").split("\n");
  const n = a.length, m = b.length;
  const table = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) table[i][j] = a[i] === b[j] ? table[i + 1][j + 1] + 1 : Math.max(table[i + 1][j], table[i][j + 1]);
  let i = 0, j = 0, out = "";
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out += "  " + escapeHtml(a[i]) + "\n"; i++; j++; }
    else if (j < m && (i >= n || table[i][j + 1] >= table[i + 1][j])) { out += '<span class="add">+ ' + escapeHtml(b[j]) + "</span>\n"; j++; }
    else { out += '<span class="del">- ' + escapeHtml(a[i]) + "</span>\n"; i++; }
  }
  return '<pre class="diff">' + out + "</pre>";
}

function sparkline(points) {
  if (!points || points.length < 2) return '<svg class="spark" role="img" aria-label="no trend yet"></svg>';
  const max = Math.max(...points, 1), min = Math.min(...points);
  const span = Math.max(max - min, 1);
  const coords = points.map((p, i) => (i * 120 / (points.length - 1)).toFixed(1) + "," + (22 - (p - min) * 20 / span).toFixed(1)).join(" ");
  return '<svg class="spark" viewBox="0 0 120 24" role="img" aria-label="size trend from ' + points[0] + " to " + points[points.length - 1] + '"><polyline points="' + coords + '"/></svg>';
}

// ---- Views.
async function statusLine() {
  try {
    const { body } = await api("GET", "/api/status");
    state.caller = body.caller;
    $("#who").textContent = body.caller.name + " (" + body.caller.role + ")";
    $("#sign-out").hidden = false;
    const workers = body.workers.length;
    const live = workers ? " · live on " + body.live_workers + " of " + workers + " workers at v" + body.ruleset_version : "";
    const delivery = body.delivery.last_error ? " · delivery failing: " + body.delivery.last_error : "";
    say("Rule set v" + body.ruleset_version + live + delivery);
  } catch (e) { /* shown by api() */ }
}

// The segment list: refreshed every 2 s in place, so ticked drafts and a half-written
// comment survive the refresh. Ticked drafts are published together, all or nothing.
async function listView() {
  const [{ body: list }, { body: live }] = await Promise.all([api("GET", "/api/segments"), api("GET", "/api/audiences")]);
  const sizes = new Map(live.audiences.map((a) => [a.segment, a]));
  if (!$("#segments-body")) {
    view().innerHTML = '<h1>Segments</h1><table aria-label="Segments"><thead><tr><th scope="col">Publish</th><th scope="col">Id</th><th scope="col">Name</th><th scope="col">Version</th><th scope="col" class="num">Members</th><th scope="col" class="num">Entered / left (1 h)</th><th scope="col">Trend</th></tr></thead><tbody id="segments-body"></tbody></table>' +
      '<div class="panel"><h2>Publish the ticked drafts together</h2><p class="muted">All or nothing: the set they put in force is checked as a whole first.</p>' +
      '<label for="drafts-comment">Why (required, kept in the audit)</label><textarea id="drafts-comment" rows="2" cols="60"></textarea>' +
      '<div class="row"><button type="button" class="primary" id="publish-drafts">Publish ticked drafts</button></div></div>';
    $("#segments-body").addEventListener("change", (event) => {
      const box = event.target.closest("input.pick");
      if (box && box.checked) state.picked.set(box.dataset.segment, { version: Number(box.dataset.version), etag: box.dataset.etag });
      else if (box) state.picked.delete(box.dataset.segment);
    });
    $("#publish-drafts").addEventListener("click", publishPicked);
  }
  const rows = list.segments.map((s) => {
    const a = sizes.get(s.id) || { size: 0, entered_last_hour: null, exited_last_hour: null, trend: [] };
    const moves = a.entered_last_hour === null ? "–" : "+" + a.entered_last_hour + " / −" + a.exited_last_hour;
    const badge = s.published === null ? '<span class="badge draft">draft v' + s.latest + "</span>"
      : '<span class="badge published">v' + s.published + "</span>" + (s.latest > s.published ? ' <span class="badge draft">draft v' + s.latest + "</span>" : "");
    const draft = s.published === null || s.latest > s.published;
    const pick = draft ? '<input type="checkbox" class="pick" data-segment="' + escapeHtml(s.id) + '" data-version="' + s.latest + '" data-etag="' + escapeHtml(s.etag) + '" aria-label="Publish draft v' + s.latest + " of " + escapeHtml(s.id) + '"' + (state.picked.has(s.id) ? " checked" : "") + ">" : "";
    return '<tr data-segment="' + escapeHtml(s.id) + '"><td>' + pick + '</td><td><a href="#/segment/' + encodeURIComponent(s.id) + '">' + escapeHtml(s.id) + "</a></td><td>" + escapeHtml(s.name) + "</td><td>" + badge +
      '</td><td class="num size">' + a.size + '</td><td class="num">' + moves + "</td><td>" + sparkline(a.trend) + "</td></tr>";
  });
  $("#segments-body").innerHTML = rows.join("");
}

async function publishPicked() {
  const comment = $("#drafts-comment").value.trim();
  const segments = [...state.picked].map(([segment, v]) => ({ segment, version: v.version, etag: v.etag }));
  if (!segments.length) { alertBox("Tick the drafts to publish first."); return; }
  if (!comment) { $("#drafts-comment").setAttribute("aria-invalid", "true"); alertBox("Say why you publish these changes."); return; }
  try {
    const { body } = await api("POST", "/api/publish", { segments, comment });
    state.picked.clear();
    $("#drafts-comment").value = "";
    $("#drafts-comment").removeAttribute("aria-invalid");
    alertBox("");
    await listView();
    await statusLine();
    say("Published " + segments.length + " segments together (" + segments.map((s) => s.segment).join(", ") + ")" + (body.delivery.last_error ? "; delivery to the classifiers is failing: " + body.delivery.last_error : "."));
  } catch (e) { alertBox(explain(e)); }
}

async function segmentView(id) {
  const [{ body: segment, etag }, { body: history }] = await Promise.all([api("GET", "/api/segments/" + encodeURIComponent(id)), api("GET", "/api/segments/" + encodeURIComponent(id) + "/versions")]);
  let currentEtag = etag;
  view().innerHTML = "";
  const page = el('<div><h1>' + escapeHtml(segment.id) + ' <span class="muted">' + escapeHtml(segment.name) + "</span></h1>" +
    '<p class="muted">' + (segment.published === null ? "Not published." : "Version " + segment.published + " is in force.") + " Newest: version " + segment.latest + ".</p>" +
    '<div id="editor-box"></div><div class="row">' +
    '<button type="button" id="save">Save draft</button><button type="button" id="dry-run">Dry run</button><button type="button" class="primary" id="review">Review and publish…</button>' +
    '<button type="button" id="delete">Delete…</button></div><div id="dry-run-result"></div><div id="review-panel"></div><h2>History</h2><div id="history"></div></div>');
  view().append(page);
  let valid = false;
  const area = mountEditor($("#editor-box"), segment.latest_text, segment.id, (ok) => {
    valid = ok;
    $("#save").disabled = !ok;
    $("#dry-run").disabled = !ok;
  });
  $("#save").addEventListener("click", async () => {
    try {
      const { body, etag } = await api("PUT", "/api/segments/" + encodeURIComponent(id), { text: area.value, comment: "saved in the console" }, currentEtag);
      currentEtag = etag;
      await route();
      say("Saved draft version " + body.latest + ".");
    } catch (e) { alertBox(explain(e)); }
  });
  $("#dry-run").addEventListener("click", () => dryRun(area.value, segment.id));
  $("#review").addEventListener("click", async () => {
    if (!valid) { alertBox("Fix the problems shown under the editor first."); return; }
    let saved = segment;
    try {
      if (area.value !== segment.latest_text) {
        const answer = await api("PUT", "/api/segments/" + encodeURIComponent(id), { text: area.value, comment: "saved for publishing" }, currentEtag);
        saved = answer.body;
        currentEtag = answer.etag;
      }
    } catch (e) { alertBox(explain(e)); return; }
    reviewPanel(saved, currentEtag);
  });
  $("#delete").addEventListener("click", () => deletePanel(segment, currentEtag));
  renderHistory(history.versions, segment, () => currentEtag);
}

function explain(e) {
  if (e.status === 412) return "Someone changed this segment since you opened it. Reload to see their version, then reapply your edit.";
  if (e.status === 409 && e.body.dependents) return e.message;
  if (e.status === 422 && e.body.problems) return "The rules do not check: " + e.body.problems.map((p) => p.segment + " line " + p.line + ": " + p.message).join("; ");
  return e.message;
}

function reviewPanel(segment, etag) {
  const panel = $("#review-panel");
  panel.innerHTML = "";
  const box = el('<div class="panel"><h2>Review: version ' + segment.latest + (segment.published ? " replaces version " + segment.published : " is published for the first time") + "</h2>" +
    diffLines(segment.published_text || "", segment.latest_text) +
    '<label for="publish-comment">Why (required, kept in the audit)</label><textarea id="publish-comment" rows="2" cols="60" required></textarea>' +
    '<div class="row"><button type="button" class="primary" id="publish">Publish</button><button type="button" id="cancel">Cancel</button></div></div>');
  panel.append(box);
  $("#cancel", box).addEventListener("click", () => { panel.innerHTML = ""; });
  $("#publish", box).addEventListener("click", async () => {
    const comment = $("#publish-comment", box).value.trim();
    if (!comment) {
      $("#publish-comment", box).setAttribute("aria-invalid", "true");
      alertBox("Say why you publish this change.");
      return;
    }
    try {
      const { body } = await api("POST", "/api/publish", { segments: [{ segment: segment.id, version: segment.latest, etag }], comment });
      alertBox("");
      say("Published " + segment.id + " version " + segment.latest + (body.delivery.last_error ? "; delivery to the classifiers is failing: " + body.delivery.last_error : " and handed to the classifiers."));
      location.hash = "#/";
    } catch (e) { alertBox(explain(e)); }
  });
}

function deletePanel(segment, etag) {
  const panel = $("#review-panel");
  panel.innerHTML = "";
  const box = el('<div class="panel"><h2>Delete ' + escapeHtml(segment.id) + '</h2><label for="delete-comment">Why (required)</label><textarea id="delete-comment" rows="2" cols="60"></textarea><div class="row"><button type="button" id="confirm-delete">Delete</button></div></div>');
  panel.append(box);
  $("#confirm-delete", box).addEventListener("click", async () => {
    try {
      await api("DELETE", "/api/segments/" + encodeURIComponent(segment.id), { comment: $("#delete-comment", box).value }, etag);
      say("Deleted " + segment.id + ".");
      location.hash = "#/";
    } catch (e) { alertBox(explain(e)); }
  });
}

function renderHistory(versions, segment, etag) {
  const container = $("#history");
  container.innerHTML = "";
  for (const v of versions.slice().reverse()) {
    const previous = versions.find((p) => p.version === v.version - 1);
    const item = el('<details class="panel" data-version="' + v.version + '"><summary>Version ' + v.version + ' <span class="badge ' + v.state + '">' + v.state + "</span> by " + escapeHtml(v.author) + ", " + new Date(v.created_at).toLocaleString() + (v.comment ? " — " + escapeHtml(v.comment) : "") + "</summary>" +
      diffLines(previous ? previous.text : "", v.text) +
      (v.version !== segment.published ? '<div class="row"><label for="rollback-comment-' + v.version + '">Why roll back</label><input id="rollback-comment-' + v.version + '" size="40"><button type="button" class="rollback">Roll back to version ' + v.version + "</button></div>" : "") + "</details>");
    const button = $(".rollback", item);
    if (button) {
      button.addEventListener("click", async () => {
        try {
          const comment = $("#rollback-comment-" + v.version, item).value.trim();
          const { body } = await api("POST", "/api/segments/" + encodeURIComponent(segment.id) + "/rollback", { version: v.version, comment }, etag());
          await route();
          say("Rolled back: version " + body.published + " (a copy of version " + v.version + ") is in force.");
        } catch (e) { alertBox(explain(e)); }
      });
    }
    container.append(item);
  }
}

async function dryRun(text, segmentId) {
  const out = $("#dry-run-result");
  out.innerHTML = '<p class="muted">Evaluating against every user’s current state…</p>';
  try {
    const { body } = await api("POST", "/api/dry-run", { text, segment: segmentId || undefined });
    out.innerHTML = "";
    out.append(el('<div class="panel" id="dry-run-panel"><h2>Dry run</h2><p>As of event time ' + new Date(body.as_of_ms).toISOString() + " (tick " + body.as_of_ms + "), over " + body.users + " users:</p>" +
      '<div class="grid"><div>Would match now: <strong id="dry-matched">' + body.matched + '</strong></div><div>Would enter: <strong id="dry-entering">' + body.entering + '</strong></div><div>Would leave: <strong id="dry-exiting">' + body.exiting + "</strong></div></div>" +
      "<p>Sample: " + body.sample.map((u) => '<a href="#/users/' + encodeURIComponent(u) + '">' + escapeHtml(u) + "</a>").join(", ") + "</p>" + (body.caveat ? '<p class="muted">Not modelled: ' + escapeHtml(body.caveat) + ".</p>" : "") + "</div>"));
  } catch (e) { out.innerHTML = ""; alertBox(explain(e)); }
}

async function newView() {
  if (!state.vocabulary) state.vocabulary = (await api("GET", "/api/vocabulary")).body;
  const v = state.vocabulary;
  const options = (items) => items.map((i) => '<option value="' + escapeHtml(i) + '">' + escapeHtml(i) + "</option>").join("");
  const page = el('<div><h1>New segment</h1>' +
    '<div class="panel"><h2>Guided builder</h2><p class="muted">Pick a behaviour and a profile condition; the builder writes the rule text into the editor below.</p>' +
    '<div class="row"><label for="b-fn">Measure</label><select id="b-fn">' + options(["count", "sum", "avg", "min", "max", "distinct_count"]) + '</select>' +
    '<label for="b-event">of event</label><select id="b-event">' + options(v.events.map((e) => e.name)) + '</select>' +
    '<label for="b-prop">property</label><select id="b-prop"></select>' +
    '<label for="b-window">in the last</label><select id="b-window">' + options(["5m", "1h", "24h", "7d"]) + '</select>' +
    '<label for="b-op">is</label><select id="b-op">' + options([">=", ">", "==", "<=", "<"]) + '</select>' +
    '<label for="b-value">value</label><input id="b-value" value="1" size="6"></div>' +
    '<div class="row"><label for="b-field">and profile field</label><select id="b-field"><option value="">(none)</option>' + options(v.profile.map((f) => f.name)) + '</select>' +
    '<label for="b-field-value">equals</label><input id="b-field-value" size="12"></div>' +
    '<div class="row"><label for="b-id">Id</label><input id="b-id" value="my_segment" size="20"><label for="b-name">Name</label><input id="b-name" value="My segment" size="30"><button type="button" id="b-write">Write the rule</button></div></div>' +
    '<label for="b-file">Rule file</label><input id="b-file" value="console.toml" size="24"><div id="editor-box"></div>' +
    '<div class="row"><button type="button" class="primary" id="create">Create draft</button><button type="button" id="dry-run">Dry run</button></div><div id="dry-run-result"></div></div>');
  view().innerHTML = "";
  view().append(page);
  const propFor = () => {
    const event = v.events.find((e) => e.name === $("#b-event").value);
    $("#b-prop").innerHTML = '<option value="">(none)</option>' + options((event ? event.properties : []).map((p) => p.name));
  };
  $("#b-event").addEventListener("change", propFor);
  propFor();
  const template = "[[segment]]\nid = \"my_segment\"\nname = \"My segment\"\nwhen = '''\ncount(\"" + (v.events[0] ? v.events[0].name : "app_opened") + "\", \"1h\") >= 1\n'''\n";
  let valid = false;
  const area = mountEditor($("#editor-box"), template, null, (ok) => { valid = ok; $("#create").disabled = !ok; });
  $("#b-write").addEventListener("click", () => {
    const fn = $("#b-fn").value, event = $("#b-event").value, prop = $("#b-prop").value;
    const args = fn === "count" ? '"' + event + '", "' + $("#b-window").value + '"' : '"' + event + '", "' + (prop || "value") + '", "' + $("#b-window").value + '"';
    let when = fn + "(" + args + ") " + $("#b-op").value + " " + ($("#b-value").value.trim() || "1");
    if ($("#b-field").value) when += ' && profile.' + $("#b-field").value + ' == "' + $("#b-field-value").value.replace(/["\\]/g, "") + '"';
    area.value = "[[segment]]\nid = \"" + $("#b-id").value.trim() + "\"\nname = \"" + $("#b-name").value.replace(/["\\]/g, "") + "\"\nwhen = '''\n" + when + "\n'''\n";
    area.dispatchEvent(new Event("input"));
  });
  $("#dry-run").addEventListener("click", () => dryRun(area.value, null));
  $("#create").addEventListener("click", async () => {
    if (!valid) { alertBox("Fix the problems shown under the editor first."); return; }
    try {
      const { body } = await api("POST", "/api/segments", { text: area.value, file: $("#b-file").value.trim() || undefined, comment: "created in the console" });
      alertBox("");
      say("Created " + body.id + " as a draft.");
      location.hash = "#/segment/" + encodeURIComponent(body.id);
    } catch (e) { alertBox(explain(e)); }
  });
}

// ---- User lookup: a user's segments, and what each condition reads.
function renderReading(r) {
  return "<li><code>" + escapeHtml(r.input) + "</code> = <strong>" + escapeHtml(JSON.stringify(r.value)) + "</strong></li>";
}

async function usersView(user) {
  view().innerHTML = '<h1>User lookup</h1><form id="lookup-form" class="row"><label for="lookup-user">User id</label>' +
    '<input id="lookup-user" name="user" size="30" required><button type="submit" class="primary" id="lookup">Look up</button></form><div id="lookup-result"></div>';
  $("#lookup-user").value = user || "";
  $("#lookup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#lookup-user").value.trim();
    if (id) location.hash = "#/users/" + encodeURIComponent(id);
  });
  if (!user) { $("#lookup-user").focus(); return; }
  const out = $("#lookup-result");
  try {
    const { body } = await api("GET", "/api/users/" + encodeURIComponent(user));
    const member = body.segments.filter((s) => s.member);
    const rows = body.segments.map((s) => '<tr data-segment="' + escapeHtml(s.segment) + '"><td><a href="#/segment/' + encodeURIComponent(s.segment) + '">' + escapeHtml(s.segment) + "</a></td><td>" +
      (s.member ? '<span class="badge published">member</span>' : "–") + "</td><td>" + (s.condition ? "true" : "false") + '</td><td><ul class="reads">' + s.reads.map(renderReading).join("") + "</ul></td></tr>");
    out.innerHTML = '<div class="panel" id="lookup-panel"><p>' + escapeHtml(body.user) + ": held by worker " + body.worker + " (" + escapeHtml(body.held) + "), exact at event time " + new Date(body.as_of_ms).toISOString() +
      ': member of <strong id="lookup-count">' + member.length + "</strong> of " + body.segments.length + ' segments.</p>' +
      '<table aria-label="Segments of ' + escapeHtml(body.user) + '"><thead><tr><th scope="col">Segment</th><th scope="col">Membership</th><th scope="col">Condition</th><th scope="col">What it reads, and the value</th></tr></thead><tbody>' + rows.join("") + "</tbody></table></div>";
    say("Looked up " + body.user + ".");
  } catch (e) {
    out.innerHTML = "";
    alertBox(e.status === 404 ? "No classifier worker holds " + user + "." : explain(e));
  }
}

async function auditView() {
  const { body } = await api("GET", "/api/audit");
  const rows = body.audit.map((r) => "<tr><td>" + new Date(r.at).toLocaleString() + "</td><td>" + escapeHtml(r.actor) + "</td><td>" + escapeHtml(r.action) + "</td><td>" + escapeHtml(r.segment) + "</td><td>" + (r.from_version ?? "–") + " → " + (r.to_version ?? "–") + "</td><td>" + escapeHtml(r.comment) + "</td></tr>");
  view().innerHTML = '<h1>Audit</h1><table aria-label="Audit"><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">What</th><th scope="col">Segment</th><th scope="col">Versions</th><th scope="col">Why</th></tr></thead><tbody>' + rows.join("") + "</tbody></table>";
}

// ---- Routing, sign-in.
function showLogin() {
  $("#login").hidden = false;
  view().hidden = true;
  $("#sign-out").hidden = true;
  $("#who").textContent = "";
  $("#token").focus();
}

async function route() {
  clearInterval(state.refresh);
  alertBox("");
  const hash = location.hash || "#/";
  try {
    const [, page, arg] = hash.split("/").map((p) => decodeURIComponent(p || ""));
    await statusLine();
    if ($("#login").hidden === false) return;
    view().hidden = false;
    if (page === "segment" && arg) await segmentView(arg);
    else if (page === "new") await newView();
    else if (page === "audit") await auditView();
    else if (page === "users") await usersView(arg);
    else {
      await listView();
      state.refresh = setInterval(() => { if (!document.hidden) { listView().catch(() => {}); if (!state.picked.size) statusLine(); } }, 2000);
    }
  } catch (e) {
    if (e.status !== 401) alertBox(explain(e));
  }
}

$("#login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/api/session", { token: $("#token").value });
    $("#token").value = "";
    $("#login").hidden = true;
    alertBox("");
    route();
  } catch (e) {
    $("#token").setAttribute("aria-invalid", "true");
    alertBox("That token is not valid.");
  }
});
$("#sign-out").addEventListener("click", async () => {
  await fetch("/api/session", { method: "DELETE", credentials: "same-origin" });
  showLogin();
});
window.addEventListener("hashchange", route);
route();

// Live updates of the job list: every 2 s, fetch this page's rows as JSON (same filters and
// cursor as the page), update the rows shown and, on the newest page, prepend new jobs.
// Rows are built with textContent only: job names, descriptions and authors come from pull
// requests and must never become markup.
"use strict";
(function () {
  const POLL_MS = 2000;
  const table = document.getElementById("jobs");
  if (!table || !table.dataset.api) return;
  const tbody = table.tBodies[0];
  const status = document.getElementById("live-status");
  const prependNew = table.dataset.live === "1";

  // A running job's time, in whole seconds (its start is known to the second), in the format
  // of the server's `links.format_duration`, which the finished row then shows (`6.1s`).
  function formatDuration(seconds) {
    const total = Math.max(0, Math.floor(seconds));
    const h = Math.floor(total / 3600);
    const m = Math.floor((total % 3600) / 60);
    const s = total % 60;
    const pad = (n) => String(n).padStart(2, "0");
    if (h) return h + "h" + pad(m) + "m";
    if (m) return m + "m" + pad(s) + "s";
    return s + "s";
  }

  function tick() {
    for (const cell of tbody.querySelectorAll("td[data-field=duration]")) {
      const started = cell.dataset.started;
      if (!started || cell.dataset.finished) continue;
      cell.textContent = formatDuration((Date.now() - Date.parse(started)) / 1000);
    }
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text, external) {
    const a = el("a", { href: href }, text);
    if (external) a.setAttribute("rel", "noopener noreferrer");
    return a;
  }

  function td(cls, ...children) {
    const cell = el("td", { class: cls });
    for (const child of children) {
      if (child === null || child === undefined) continue;
      cell.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return cell;
  }

  function stateSpan(state) {
    return el("span", { class: "state state-" + state, "data-field": "state" }, state);
  }

  function buildRow(row) {
    const tr = el("tr", { "data-job-id": String(row.id), class: "row-" + row.state });
    tr.append(td("col-state", stateSpan(row.state)));
    tr.append(td("col-id", link(row.view, "#" + row.id)));
    tr.append(td("col-name", link(row.history, row.name)));
    tr.append(td("col-type", row.type));
    const repo = td("col-repo", row.repo || "");
    if (row.repo && row.base_ref) {
      repo.append(" ", el("span", { class: "ref" }, row.base_ref));
    }
    tr.append(repo);
    const pr = td("col-pr");
    row.pulls.forEach(([number, href], i) => {
      if (i) pr.append(", ");
      pr.append(href ? link(href, "#" + number, true) : "#" + number);
    });
    if (row.pr_history) {
      pr.append(" ");
      const a = link(row.pr_history, "history");
      a.setAttribute("class", "pr-history");
      pr.append(a);
    }
    tr.append(pr);
    const commit = td("col-commit");
    if (row.commit) {
      const code = el("code", {}, row.commit[0].slice(0, 8));
      if (row.commit[1]) {
        const a = link(row.commit[1], "", true);
        a.append(code);
        commit.append(a);
      } else commit.append(code);
    }
    tr.append(commit);
    tr.append(td("col-author", row.authors.join(", ")));
    const created = el("time", { datetime: row.created_iso }, row.created);
    tr.append(td("col-started", created));
    const dur = td("col-duration", row.duration);
    dur.dataset.field = "duration";
    dur.dataset.started = row.started_iso;
    dur.dataset.finished = row.finished_iso;
    tr.append(dur);
    const desc = td("col-description", row.description || "");
    desc.dataset.field = "description";
    tr.append(desc);
    return tr;
  }

  function update(tr, row) {
    tr.className = "row-" + row.state;
    const state = tr.querySelector("[data-field=state]");
    if (state && state.textContent !== row.state) state.replaceWith(stateSpan(row.state));
    const dur = tr.querySelector("td[data-field=duration]");
    if (dur) {
      dur.dataset.started = row.started_iso;
      dur.dataset.finished = row.finished_iso;
      dur.textContent = row.duration;
    }
    const desc = tr.querySelector("td[data-field=description]");
    if (desc) desc.textContent = row.description || "";
  }

  function apply(rows) {
    const shown = new Map();
    let newest = 0;
    for (const tr of tbody.querySelectorAll("tr[data-job-id]")) {
      const id = Number(tr.dataset.jobId);
      shown.set(id, tr);
      newest = Math.max(newest, id);
    }
    const fresh = [];
    for (const row of rows) {
      const tr = shown.get(row.id);
      if (tr) update(tr, row);
      else if (prependNew && row.id > newest) fresh.push(row);
    }
    if (fresh.length) {
      const empty = tbody.querySelector("tr.empty");
      if (empty) empty.remove();
      fresh.sort((a, b) => b.id - a.id);
      const first = tbody.firstChild;
      for (const row of fresh) tbody.insertBefore(buildRow(row), first);
    }
  }

  let timer = null;
  async function poll() {
    try {
      const response = await fetch(table.dataset.api, {
        headers: { Accept: "application/json" },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (!response.ok) throw new Error("HTTP " + response.status);
      const body = await response.json();
      apply(body.rows || []);
      table.dataset.updated = String(Date.now());
      if (status) status.textContent = "";
    } catch (err) {
      if (status) status.textContent = "Live updates paused: " + err.message;
    } finally {
      timer = setTimeout(poll, POLL_MS);
    }
  }

  setInterval(tick, 1000);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden || timer === null) return;
    clearTimeout(timer);
    poll();
  });
  timer = setTimeout(poll, POLL_MS);
})();

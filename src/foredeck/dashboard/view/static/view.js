// Run page: rerun and abort buttons (shown to those whose role allows them). They POST to the
// API with the session cookie (sign in) and the page's CSRF token, which the API wants with it.
(function () {
  "use strict";
  var result = document.getElementById("action-result");
  var csrfMeta = document.querySelector("meta[name=csrf-token]");
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function show(text, ok) {
    if (!result) { return; }
    result.textContent = text;  // text, never markup: the API's message may quote user input
    result.className = "action-result " + (ok ? "ok" : "failed");
  }

  function act(button) {
    var id = button.getAttribute("data-job-id");
    var action = button.getAttribute("data-action");
    if (action === "abort" && !window.confirm("Abort this run?")) { return; }
    var headers = { "Accept": "application/json", "X-CSRF-Token": csrf };
    button.disabled = true;
    fetch("/api/jobs/" + encodeURIComponent(id) + "/" + action, {
      method: "POST", headers: headers, credentials: "same-origin"
    }).then(function (response) {
      return response.text().then(function (body) {
        var data = null;
        try { data = JSON.parse(body); } catch (e) { data = null; }
        if (response.ok) {
          if (action === "rerun" && data && data.id) {
            show("Rerun started: run #" + data.id, true);
            window.location.href = "/view/" + encodeURIComponent(data.id);
          } else {
            show(action === "abort" ? "Aborted." : "Done.", true);
            window.location.reload();
          }
          return;
        }
        var detail = data && data.detail ? data.detail : body;
        if (typeof detail !== "string") { detail = JSON.stringify(detail); }
        show(action + " failed (" + response.status + "): " + detail, false);
      });
    }).catch(function (error) {
      show(action + " failed: " + error, false);
    }).then(function () { button.disabled = false; });
  }

  var buttons = document.querySelectorAll("button.job-action");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].addEventListener("click", function (event) { act(event.currentTarget); });
  }

  // Opening a link to a line inside a folded stretch unfolds it.
  function reveal() {
    if (!location.hash) { return; }
    var target = document.getElementById(location.hash.slice(1));
    if (!target) { return; }
    var fold = target.closest("details");
    if (fold && !fold.open) { fold.open = true; target.scrollIntoView(); }
  }
  window.addEventListener("hashchange", reveal);
  reveal();

  // A run in progress refreshes itself: the page is fetched again and its state, notes and
  // lenses swapped in (no reload, so the scroll position stays), until the run has ended. The
  // server escaped the markup; DOMParser runs no script.
  var head = document.querySelector(".run-head[data-refresh]");
  if (!head) { return; }
  var every = Math.max(1, Number(head.getAttribute("data-refresh")) || 3) * 1000;

  // A fold the reader opened (or closed) stays so across a refresh: each <details> is known
  // by the first id inside it (a log fold's first line, which a growing log keeps while the
  // fold's "show all N lines" grows), else by its summary.
  function foldKey(details) {
    var named = details.querySelector("[id]");
    var summary = details.querySelector("summary");
    return named ? "#" + named.id : "|" + (summary ? summary.textContent : "");
  }

  function swap(fresh, id) {
    var old = document.getElementById(id);
    var now = fresh.getElementById(id);
    if (!old || !now) { return; }
    var states = {};
    old.querySelectorAll("details").forEach(function (d) { states[foldKey(d)] = d.open; });
    var placed = document.importNode(now, true);
    placed.querySelectorAll("details").forEach(function (d) {
      var key = foldKey(d);
      if (Object.prototype.hasOwnProperty.call(states, key)) { d.open = states[key]; }
    });
    old.replaceWith(placed);
  }

  function refresh() {
    if (document.hidden) { setTimeout(refresh, every); return; }
    fetch(location.pathname + location.search, {
      credentials: "same-origin", headers: { "Accept": "text/html" }
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.text();
    }).then(function (body) {
      var fresh = new DOMParser().parseFromString(body, "text/html");
      ["run-state", "live-notes", "lens-nav", "run-lenses"].forEach(function (id) { swap(fresh, id); });
      if (fresh.querySelector(".run-head[data-refresh]")) {
        setTimeout(refresh, every);
      } else {  // ended: no more refreshes, and nothing left to abort
        head.removeAttribute("data-refresh");
        var abort = document.querySelector("button[data-action=abort]");
        if (abort) { abort.remove(); }
      }
    }).catch(function () { setTimeout(refresh, every * 2); });
  }
  setTimeout(refresh, every);
})();

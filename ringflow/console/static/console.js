// The admin console: a small script over the admin API (/api/workflows...), signed in by the
// session cookie; every change carries the page's CSRF token. No framework, no build step.
(function () {
  "use strict";

  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var $ = function (id) { return document.getElementById(id); };
  var current = null; // the chosen workflow's state, as GET /api/workflows/{id} answers it

  function api(method, path, body, type) {
    var headers = { "Accept": "application/json" };
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) { headers["Content-Type"] = type || "application/json"; }
    return fetch("/api" + path, {
      method: method,
      headers: headers,
      body: body,
      credentials: "same-origin",
    }).then(function (answer) {
      if (answer.status === 401) { window.location.assign("/console/sign-in"); }
      return answer;
    });
  }

  function say(text, isError) {
    var message = $("message");
    message.textContent = text;
    message.className = isError ? "message error" : "message";
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function statusLine(state) {
    var parts = [];
    parts.push(state.published_version ? "Published version " + state.published_version
      : "Not published");
    if (state.has_draft) { parts.push("a draft waits"); }
    parts.push(state.enabled ? "enabled" : "disabled");
    parts.push(state.origin === "file" ? "from a file (read-only here)" : "uploaded");
    return parts.join(" · ");
  }

  // --- the list -------------------------------------------------------------------------

  function loadList(select) {
    return api("GET", "/workflows").then(function (answer) {
      return answer.json();
    }).then(function (states) {
      var list = $("workflows");
      clear(list);
      states.forEach(function (state) {
        var item = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.dataset.id = state.id;
        button.textContent = state.name || state.id;
        var meta = document.createElement("span");
        meta.className = "meta";
        meta.textContent = state.id + (state.published_version ? " · v" + state.published_version
          : " · draft");
        button.appendChild(meta);
        button.addEventListener("click", function () { choose(state.id); });
        item.appendChild(button);
        list.appendChild(item);
      });
      if (select) { return choose(select); }
      return null;
    });
  }

  function markCurrent(id) {
    Array.prototype.forEach.call($("workflows").querySelectorAll("button"), function (b) {
      b.setAttribute("aria-current", b.dataset.id === id ? "true" : "false");
    });
  }

  // --- one workflow ---------------------------------------------------------------------

  function choose(id, version) {
    return api("GET", "/workflows/" + encodeURIComponent(id)).then(function (answer) {
      if (!answer.ok) { say("That workflow is gone.", true); return null; }
      return answer.json().then(function (state) {
        if (current && current.id !== state.id) { say(""); }
        current = state;
        markCurrent(id);
        $("workflow").hidden = false;
        $("title").textContent = state.name || state.id;
        $("status").textContent = statusLine(state);
        $("publish").disabled = !state.has_draft;
        var select = $("version");
        clear(select);
        var versions = [];
        if (state.has_draft) { versions.push(["draft", "Draft"]); }
        state.versions.slice().reverse().forEach(function (v) {
          var live = v.version === state.published_version ? " (published)" : "";
          versions.push([String(v.version), "Version " + v.version + live]);
        });
        versions.forEach(function (pair) {
          var option = document.createElement("option");
          option.value = pair[0];
          option.textContent = pair[1];
          select.appendChild(option);
        });
        var wanted = version || (state.has_draft ? "draft" : String(state.published_version));
        select.value = wanted;
        return show(wanted);
      });
    });
  }

  function show(version) {
    var id = encodeURIComponent(current.id);
    var query = "?version=" + encodeURIComponent(version);
    var img = $("diagram");
    img.alt = "Diagram of " + (current.name || current.id) + ", " + version;
    // Fetched, then shown as a data: URL: a draft saved again under the same URL is drawn
    // anew (an <img> would keep the old picture), and the page's policy allows no blob:.
    api("GET", "/workflows/" + id + "/diagram.svg" + query).then(function (answer) {
      if (!answer.ok) { throw new Error("the diagram could not be drawn (" + answer.status + ")"); }
      return answer.text();
    }).then(function (svg) {
      img.dataset.workflow = decodeURIComponent(id);
      img.dataset.version = version;
      img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg);
    }).catch(function (error) { say(String(error.message || error), true); });
    return api("GET", "/workflows/" + id + "/export" + query).then(function (answer) {
      return answer.text();
    }).then(function (text) {
      var list = $("yaml");
      clear(list);
      text.replace(/\n$/, "").split("\n").forEach(function (line) {
        var item = document.createElement("li");
        item.textContent = line;
        list.appendChild(item);
      });
      $("text").value = text;
      gutter([]);
      clear($("problems"));
    });
  }

  // --- the editor -----------------------------------------------------------------------

  function gutter(badLines) {
    var lines = $("text").value.split("\n").length;
    var list = $("gutter");
    clear(list);
    for (var n = 1; n <= lines; n += 1) {
      var item = document.createElement("li");
      item.textContent = String(n);
      if (badLines.indexOf(n) !== -1) { item.className = "bad"; }
      list.appendChild(item);
    }
    list.scrollTop = $("text").scrollTop;
  }

  function goToLine(line) {
    var text = $("text");
    var lines = text.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i += 1) { start += lines[i].length + 1; }
    var end = start + (lines[line - 1] || "").length;
    text.focus();
    text.setSelectionRange(start, end);
  }

  function showProblems(problems) {
    var list = $("problems");
    clear(list);
    problems.forEach(function (problem) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      var where = document.createElement("span");
      where.className = "where";
      where.textContent = (problem.line ? "Line " + problem.line : "The file") +
        (problem.field && problem.field !== "(file)" ? " · " + problem.field : "");
      button.appendChild(where);
      button.appendChild(document.createTextNode(problem.message));
      if (problem.line) {
        button.addEventListener("click", function () { goToLine(problem.line); });
      }
      item.appendChild(button);
      list.appendChild(item);
    });
    gutter(problems.map(function (p) { return p.line; }).filter(Boolean));
  }

  function check() {
    return api("POST", "/workflows/validate", $("text").value, "application/yaml")
      .then(function (answer) { return answer.json(); })
      .then(function (result) {
        if (result.valid === true) {
          showProblems([]);
          say("No problems: " + result.id + " can be saved.");
        } else if (result.problems) {
          showProblems(result.problems);
          say(result.problems.length + " problem(s): each is shown at its line.", true);
        } else {
          say(result.detail || "The check failed.", true);
        }
      });
  }

  function save() {
    return api("POST", "/workflows", $("text").value, "application/yaml").then(function (answer) {
      return answer.json().then(function (body) {
        if (answer.status === 201) {
          showProblems([]);
          say("Saved as a draft of " + body.id + ". Publish it to answer calls with it.");
          return loadList(body.id);
        }
        showProblems(body.errors || []);
        say(body.detail || "Not saved.", true);
        return null;
      });
    });
  }

  function publish() {
    if (!current) { return null; }
    var path = "/workflows/" + encodeURIComponent(current.id) + "/publish";
    return api("POST", path).then(function (answer) {
      return answer.json().then(function (body) {
        if (!answer.ok) { say(body.detail || "Not published.", true); return null; }
        say("Published version " + body.published_version + " of " + body.id + ".");
        return loadList(body.id);
      });
    });
  }

  // --- the line: recent calls, jobs that died ------------------------------------------

  function cell(row, text, className) {
    var td = document.createElement("td");
    if (className) { td.className = className; }
    if (text instanceof Node) { td.appendChild(text); } else { td.textContent = text; }
    row.appendChild(td);
    return td;
  }

  function when(iso) {
    return iso ? new Date(iso).toLocaleString() : "";
  }

  function loadCalls() {
    var outcome = $("call-outcome").value;
    var query = "?limit=50" + (outcome ? "&outcome=" + encodeURIComponent(outcome) : "");
    return api("GET", "/calls" + query).then(function (answer) {
      return answer.json();
    }).then(function (calls) {
      var body = $("calls");
      clear(body);
      (Array.isArray(calls) ? calls : calls.items || []).forEach(function (call) {
        var row = document.createElement("tr");
        row.dataset.sid = call.sid;
        cell(row, when(call.started_at));
        cell(row, call.caller);
        cell(row, call.called);
        cell(row, call.workflow_id || "");
        var badge = document.createElement("span");
        badge.className = "outcome " + (call.outcome || "live");
        badge.textContent = call.outcome || call.status;
        cell(row, badge);
        cell(row, call.agent || "");
        cell(row, call.keys.join(" "));
        cell(row, call.path.join(" → "), "path");
        body.appendChild(row);
      });
      $("calls-empty").hidden = body.childElementCount > 0;
    });
  }

  function jobAction(job, action) {
    return api("POST", "/jobs/" + job.id + "/" + action).then(function (answer) {
      return answer.json().then(function (result) {
        if (!answer.ok) { say(result.detail || "Not done.", true); return null; }
        say(action === "retry" ? "Job " + job.id + " (" + job.kind + ") queued again."
          : "Job " + job.id + " (" + job.kind + ") cancelled.");
        return loadJobs();
      });
    });
  }

  function loadJobs() {
    return api("GET", "/jobs/dead?limit=50").then(function (answer) {
      return answer.json();
    }).then(function (dead) {
      var body = $("jobs");
      clear(body);
      dead.forEach(function (job) {
        var row = document.createElement("tr");
        row.dataset.job = String(job.id);
        cell(row, when(job.finished_at));
        cell(row, job.kind);
        cell(row, job.dedupe_key);
        cell(row, job.last_error || "", "why");
        cell(row, String(job.attempts));
        var buttons = document.createElement("span");
        [["retry", "Retry"], ["cancel", "Cancel"]].forEach(function (pair) {
          var button = document.createElement("button");
          button.type = "button";
          button.className = "plain";
          button.textContent = pair[1];
          button.addEventListener("click", function () { jobAction(job, pair[0]); });
          buttons.appendChild(button);
        });
        cell(row, buttons);
        body.appendChild(row);
      });
      $("jobs-empty").hidden = body.childElementCount > 0;
    });
  }

  $("call-outcome").addEventListener("change", loadCalls);
  $("calls-refresh").addEventListener("click", loadCalls);
  $("jobs-refresh").addEventListener("click", loadJobs);

  $("text").addEventListener("input", function () { gutter([]); });
  $("text").addEventListener("scroll", function () { $("gutter").scrollTop = $("text").scrollTop; });
  $("check").addEventListener("click", check);
  $("save").addEventListener("click", save);
  $("publish").addEventListener("click", publish);
  $("version").addEventListener("change", function () { show($("version").value); });
  $("new-workflow").addEventListener("click", function () {
    current = null;
    markCurrent(null);
    $("workflow").hidden = true;
    $("text").value = "id: new-line\nname: New line\ntrigger: {event: call.incoming}\n" +
      "start: hello\nsteps:\n  hello: {hangup: \"Hello, and goodbye.\"}\n";
    gutter([]);
    clear($("problems"));
    $("text").focus();
  });
  gutter([]);
  loadList(null);
  loadCalls();
  loadJobs();
}());

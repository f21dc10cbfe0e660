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
    // A FormData body carries its own multipart type (with its boundary).
    if (body !== undefined && !(body instanceof FormData)) {
      headers["Content-Type"] = type || "application/json";
    }
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

  // An audio player; "none" fetches nothing until played, "auto" loads it to play at once.
  function player(src, preload) {
    var audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = preload;
    audio.src = src;
    return audio;
  }

  function addOption(select, value, label) {
    var option = document.createElement("option");
    option.value = value;
    option.textContent = label;
    select.appendChild(option);
  }

  // An API problem in words: its detail, and the first field it names.
  function problemText(result, fallback) {
    var field = result.errors && result.errors[0];
    return (result.detail || fallback) + (field ? " (" + field.field + ": " + field.message + ")"
      : "");
  }

  function trigger(state) {
    var event = state.trigger && state.trigger.event;
    if (!event) { return ""; }
    var to = state.trigger.to.length ? " to " + state.trigger.to.join(", ") : "";
    return event + to;
  }

  function statusLine(state) {
    var parts = [];
    parts.push(state.published_version ? "Published version " + state.published_version
      : "Not published");
    if (state.has_draft) { parts.push("a draft waits"); }
    parts.push(state.enabled ? "enabled" : "disabled");
    parts.push(state.origin === "file" ? "from a file (read-only here)" : "uploaded");
    if (trigger(state)) { parts.push("starts on " + trigger(state)); }
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
          : " · draft") + (state.enabled ? "" : " · disabled") +
          (trigger(state) ? " · " + trigger(state) : "");
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
        if (!current || current.id !== state.id) { endTexting(); }
        current = state;
        showTryKind();
        markCurrent(id);
        $("workflow").hidden = false;
        $("title").textContent = state.name || state.id;
        $("status").textContent = statusLine(state);
        $("publish").disabled = !state.has_draft;
        $("toggle-enabled").textContent = state.enabled ? "Disable" : "Enable";
        $("toggle-enabled").disabled = state.origin === "file";
        var select = $("version");
        clear(select);
        var versions = [];
        if (state.has_draft) { versions.push(["draft", "Draft"]); }
        state.versions.slice().reverse().forEach(function (v) {
          var live = v.version === state.published_version ? " (published)" : "";
          versions.push([String(v.version), "Version " + v.version + live]);
        });
        versions.forEach(function (pair) {
          addOption(select, pair[0], pair[1]);
        });
        var wanted = version || (state.has_draft ? "draft" : String(state.published_version));
        select.value = wanted;
        return show(wanted);
      });
    });
  }

  function show(version) {
    var id = encodeURIComponent(current.id);
    // An earlier version can be published again (a roll back), from the page.
    $("rollback").hidden = current.origin === "file" || version === "draft" ||
      Number(version) === current.published_version;
    var query = "?version=" + encodeURIComponent(version);
    var drawing = $("diagram");
    drawing.setAttribute("aria-label", "Diagram of " + (current.name || current.id) + ", " + version);
    // Drawn in the page (not as an <img>), so that a test call can light its steps up.
    api("GET", "/workflows/" + id + "/diagram.svg" + query).then(function (answer) {
      if (!answer.ok) { throw new Error("the diagram could not be drawn (" + answer.status + ")"); }
      return answer.text();
    }).then(function (svg) {
      var parsed = new DOMParser().parseFromString(svg, "image/svg+xml");
      if (parsed.getElementsByTagName("parsererror").length) {
        throw new Error("the diagram could not be read");
      }
      clear(drawing);
      drawing.appendChild(document.importNode(parsed.documentElement, true));
      drawing.dataset.workflow = decodeURIComponent(id);
      drawing.dataset.version = version;
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

  function fillTable(path, name, makeRow) {
    // A table of the line: its rows from GET /api{path}, or its "empty" line.
    return api("GET", path).then(function (answer) { return answer.json(); }).then(function (items) {
      var body = $(name);
      clear(body);
      items.forEach(function (item) { body.appendChild(makeRow(item)); });
      $(name + "-empty").hidden = body.childElementCount > 0;
      return items;
    });
  }

  function loadCalls() {
    var outcome = $("call-outcome").value;
    var query = "?limit=50" + (outcome ? "&outcome=" + encodeURIComponent(outcome) : "");
    return fillTable("/calls" + query, "calls", function (call) {
      var row = document.createElement("tr");
      row.dataset.sid = call.sid;
      cell(row, when(call.started_at));
      cell(row, call.caller);
      cell(row, call.called);
      var workflow = cell(row, call.workflow_id || "");
      if (call.test) {
        var mark = document.createElement("span");
        mark.className = "test-mark";
        mark.textContent = "test";
        workflow.appendChild(mark);
      }
      var badge = document.createElement("span");
      badge.className = "outcome " + (call.outcome || "live");
      badge.textContent = call.outcome || call.status;
      cell(row, badge);
      cell(row, call.agent || "");
      cell(row, call.keys.join(" "));
      cell(row, call.path.join(" → "), "path");
      cell(row, recordings(call), "recordings");
      return row;
    });
  }

  function recordings(call) {
    // A player per recording. Its audio comes from GET /api/calls/{sid}/recordings/{n}, which
    // fetches it from Twilio; the page's session cookie goes with it (same origin). A test
    // call's recordings have no audio: said so instead.
    var box = document.createElement("div");
    (call.recordings || []).forEach(function (recording) {
      var line = document.createElement("div");
      line.className = "recording";
      if (recording.audio) {
        line.appendChild(player(recording.audio, "none"));
      } else {
        line.appendChild(document.createTextNode("recording (test call: no audio)"));
      }
      if (recording.duration !== null) {
        line.appendChild(document.createTextNode(" " + recording.duration + " s"));
      }
      box.appendChild(line);
    });
    return box;
  }

  function buttons(pairs) {
    // Plain buttons, each [label, what a click does].
    var group = document.createElement("span");
    pairs.forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "plain";
      button.textContent = pair[0];
      button.addEventListener("click", pair[1]);
      group.appendChild(button);
    });
    return group;
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
    return fillTable("/jobs/dead?limit=50", "jobs", function (job) {
      var row = document.createElement("tr");
      row.dataset.job = String(job.id);
      cell(row, when(job.finished_at));
      cell(row, job.kind);
      cell(row, job.dedupe_key);
      cell(row, job.last_error || "", "why");
      cell(row, String(job.attempts));
      cell(row, buttons([
        ["Retry", function () { jobAction(job, "retry"); }],
        ["Cancel", function () { jobAction(job, "cancel"); }],
      ]));
      return row;
    });
  }

  function changed(path, body, done) {
    return api("POST", path, body === undefined ? undefined : JSON.stringify(body))
      .then(function (answer) {
        return answer.json().then(function (result) {
          if (!answer.ok) { say(result.detail || "Not done.", true); return null; }
          // Said once the workflow is shown: choosing another one clears the message.
          return loadList(result.id).then(function () { say(done(result)); });
        });
      });
  }

  function rollBack() {
    var version = Number($("version").value);
    return changed("/workflows/" + encodeURIComponent(current.id) + "/rollback",
      { version: version }, function (state) {
        return "Version " + version + " of " + state.id + " is published again (as version " +
          state.published_version + ").";
      });
  }

  function toggleEnabled() {
    var action = current.enabled ? "disable" : "enable";
    return changed("/workflows/" + encodeURIComponent(current.id) + "/" + action, undefined,
      function (state) {
        return state.id + (state.enabled ? " is enabled: it answers again."
          : " is disabled: it starts no new runs.");
      });
  }

  // --- recipes --------------------------------------------------------------------------

  var recipes = [];

  function loadRecipes() {
    return api("GET", "/recipes").then(function (answer) { return answer.json(); })
      .then(function (found) {
        recipes = found;
        var select = $("recipe");
        clear(select);
        found.forEach(function (recipe) {
          addOption(select, recipe.id, recipe.title);
        });
        showRecipe();
      });
  }

  function recipeField(parameter) {
    var wrap = document.createElement("div");
    wrap.className = "field";
    wrap.dataset.parameter = parameter.name;
    var label = document.createElement("label");
    var id = "recipe-" + parameter.name;
    label.htmlFor = id;
    label.textContent = parameter.name.replace(/_/g, " ") + (parameter.required ? " *" : "");
    var input;
    if (parameter.type === "choice" || parameter.type === "schedule") {
      input = document.createElement("select");
      var values = parameter.type === "choice" ? parameter.choices : scheduleNames;
      if (!parameter.required) { values = [""].concat(values); }
      values.forEach(function (value) {
        addOption(input, value, value || "(none)");
      });
    } else if (parameter.type === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = parameter.default === true;
    } else {
      input = document.createElement("input");
      input.type = parameter.type === "number" ? "number" : "text";
      if (parameter.type === "phone") { input.inputMode = "tel"; input.placeholder = "+14155550123"; }
      if (parameter.type === "phones" || parameter.type === "texts") {
        input.placeholder = "one, another";
      }
    }
    if (parameter.default !== null && parameter.default !== undefined && input.type !== "checkbox") {
      input.value = Array.isArray(parameter.default) ? parameter.default.join(", ")
        : String(parameter.default);
    }
    input.id = id;
    input.dataset.type = parameter.type;
    var hint = document.createElement("small");
    hint.textContent = parameter.description;
    var problem = document.createElement("small");
    problem.className = "field-problem";
    wrap.appendChild(label);
    wrap.appendChild(input);
    wrap.appendChild(hint);
    wrap.appendChild(problem);
    return wrap;
  }

  function showRecipe() {
    var recipe = recipes.filter(function (r) { return r.id === $("recipe").value; })[0];
    var fields = $("recipe-fields");
    clear(fields);
    clear($("recipe-problems"));
    if (!recipe) { $("recipe-about").textContent = ""; return; }
    $("recipe-about").textContent = recipe.description + " (starts on " + recipe.event + ")";
    recipe.parameters.forEach(function (parameter) { fields.appendChild(recipeField(parameter)); });
  }

  function recipeValues() {
    var values = {};
    Array.prototype.forEach.call($("recipe-fields").querySelectorAll("[data-type]"), function (input) {
      var name = input.id.replace(/^recipe-/, "");
      var type = input.dataset.type;
      if (type === "boolean") { values[name] = input.checked; return; }
      var text = input.value.trim();
      if (text === "") { return; } // left out: the recipe's default, or "required"
      if (type === "number") { values[name] = Number(text); }
      else if (type === "phones" || type === "texts") {
        values[name] = text.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
      } else { values[name] = text; }
    });
    return values;
  }

  function installRecipe(event) {
    event.preventDefault();
    var id = $("recipe").value;
    var body = { parameters: recipeValues(), publish: $("recipe-publish").checked };
    Array.prototype.forEach.call($("recipe-fields").querySelectorAll(".field-problem"),
      function (node) { node.textContent = ""; });
    clear($("recipe-problems"));
    return api("POST", "/recipes/" + encodeURIComponent(id) + "/install", JSON.stringify(body))
      .then(function (answer) {
        return answer.json().then(function (result) {
          if (!answer.ok) {
            say(result.detail || "Not installed.", true);
            (result.errors || []).forEach(function (error) {
              var name = String(error.field).split(".").pop();
              var field = $("recipe-fields").querySelector('[data-parameter="' + name + '"]');
              if (field) {
                field.querySelector(".field-problem").textContent = error.message;
              } else {
                var item = document.createElement("li");
                item.textContent = error.field + ": " + error.message;
                $("recipe-problems").appendChild(item);
              }
            });
            return null;
          }
          return loadList(result.id).then(function () {
            say("Installed " + result.id + (result.published_version ? " and published it." :
              " as a draft."));
          });
        });
      });
  }

  // --- texts, schedules, prompts -------------------------------------------------------

  function waitingWhy(text) {
    // The send job's last reason (quiet hours holding it, a pause, a retry), and when it is due.
    var due = text.due_at ? "due " + when(text.due_at) : "waiting to be sent";
    return text.held ? text.held.replace(/: held until .*$/, "") + ": held, " + due : due;
  }

  function loadTexts() {
    var status = $("text-status").value;
    var query = "?direction=outbound&limit=50" + (status ? "&status=" + status : "");
    return fillTable("/messages" + query, "texts", function (text) {
      var row = document.createElement("tr");
      row.dataset.message = String(text.id);
      cell(row, when(text.created_at));
      cell(row, text.to_number);
      cell(row, text.body, "why");
      var badge = document.createElement("span");
      badge.className = "outcome " + text.status;
      badge.textContent = text.status;
      cell(row, badge);
      cell(row, text.error || (text.status === "queued" ? waitingWhy(text) : ""), "why");
      return row;
    });
  }

  var scheduleNames = [];

  function override(name, open) {
    var path = "/schedules/" + encodeURIComponent(name) + "/override";
    var request = open === null ? api("DELETE", path) : api("PUT", path, JSON.stringify({ open: open }));
    return request.then(function (answer) {
      return answer.json().then(function (result) {
        if (!answer.ok) { say(result.detail || "Not changed.", true); return null; }
        say(name + ": " + result.summary);
        return loadSchedules();
      });
    });
  }

  function loadSchedules() {
    return fillTable("/schedules", "schedules", function (schedule) {
      var row = document.createElement("tr");
      row.dataset.schedule = schedule.name;
      cell(row, schedule.name);
      var badge = document.createElement("span");
      badge.className = "outcome " + (schedule.open ? "answered" : "missed");
      badge.textContent = (schedule.open ? "open" : "closed") +
        (schedule.overridden ? " (override)" : "");
      cell(row, badge, "now");
      cell(row, schedule.summary, "why");
      var choice = schedule.override ? ["Follow the hours", null]
        : [schedule.open ? "Close now" : "Open now", !schedule.open];
      cell(row, buttons([[choice[0], function () { override(schedule.name, choice[1]); }]]));
      return row;
    }).then(function (schedules) {
      scheduleNames = schedules.map(function (s) { return s.name; });
    });
  }

  function seconds(ms) { return (ms / 1000).toFixed(1) + " s"; }

  function loadPrompts() {
    return fillTable("/prompts", "prompts", function (prompt) {
      var row = document.createElement("tr");
      row.dataset.prompt = prompt.id;
      var name = cell(row, prompt.name);
      var id = document.createElement("code");
      id.textContent = prompt.id;
      name.appendChild(document.createElement("br"));
      name.appendChild(id);
      cell(row, prompt.kind === "speech" ? "spoken: " + prompt.text : "uploaded audio", "why");
      cell(row, seconds(prompt.duration_ms));
      cell(row, player(prompt.media.wav, "none"));
      return row;
    });
  }

  function uploadPrompt(file) {
    if (!file) { return null; }
    var form = new FormData();
    form.append("file", file, file.name);
    say("Uploading " + file.name + "…");
    return api("POST", "/prompts", form).then(function (answer) {
      return answer.json().then(function (result) {
        if (!answer.ok) { say(result.detail || "Not uploaded.", true); return null; }
        say("Uploaded " + result.name + " as " + result.id + " (" + seconds(result.duration_ms) +
          "): play it with play: " + result.id + ".");
        return loadPrompts();
      });
    });
  }

  function speak(event) {
    event.preventDefault();
    var body = { text: $("speak-text").value, language: $("speak-language").value };
    return api("POST", "/prompts/speech", JSON.stringify(body)).then(function (answer) {
      return answer.json().then(function (result) {
        if (!answer.ok) {
          say(problemText(result, "Not spoken."), true);
          return null;
        }
        say("Spoken as " + result.id + ".");
        return loadPrompts().then(function () {
          var audio = $("prompts").querySelector('tr[data-prompt="' + result.id + '"] audio');
          if (audio) { audio.play().catch(function () { return null; }); }
        });
      });
    });
  }

  // --- try it: a test call --------------------------------------------------------------

  var trial = null; // {id, shown: lines rendered, timer, keys: typed so far, question}
  var playlist = []; // audio elements waiting their turn
  var playing = null;

  function light(path, step) {
    Array.prototype.forEach.call($("diagram").querySelectorAll("g.node"), function (node) {
      var title = node.querySelector("title");
      var name = title ? title.textContent : "";
      node.classList.toggle("visited", path.indexOf(name) !== -1);
      node.classList.toggle("current", name === step);
    });
  }

  function playNext() {
    if (playing || !playlist.length) { return; }
    var audio = playlist.shift();
    playing = audio;
    var done = function (state) {
      audio.dataset.state = state;
      if (playing === audio) { playing = null; }
      playNext();
    };
    audio.addEventListener("playing", function () { audio.dataset.state = "playing"; });
    audio.addEventListener("ended", function () { done("played"); });
    audio.addEventListener("error", function () { done("failed"); });
    audio.play().catch(function () { done("blocked"); });
  }

  function stopAudio() {
    playlist = [];
    if (playing) { playing.pause(); playing.dataset.state = "stopped"; playing = null; }
  }

  function addLine(line) {
    var item = document.createElement("li");
    var kind = line.text.split(":")[0].toLowerCase().replace(/[^a-z]+/g, "-");
    item.className = "heard-" + kind;
    var text = document.createElement("span");
    text.textContent = line.text;
    item.appendChild(text);
    if (line.audio) {
      var audio = player(line.audio, "auto");
      item.appendChild(audio);
      playlist.push(audio);
    }
    $("try-lines").appendChild(item);
    item.scrollIntoView({ block: "nearest" });
  }

  function showQuestion(question) {
    var kind = question ? question.kind : null;
    $("try-keys").hidden = kind !== "keys";
    $("try-dial").hidden = kind !== "dial";
    $("try-record").hidden = kind !== "record";
    if (kind === "keys") {
      $("try-words").hidden = !question.speech;
      Array.prototype.forEach.call($("try-keys").querySelectorAll(".keypad button"), function (b) {
        b.disabled = !question.dtmf;
      });
    }
    if (kind === "dial") { $("try-dialling").textContent = "Dialling " + question.targets.join(", "); }
  }

  // A test call waiting in a hold queue is offered to no agent: the admin says who takes it.
  function showHolding(holding) {
    $("try-holding").hidden = !holding;
    if (!holding) { return; }
    $("try-queue").textContent = "Waiting in the hold queue of team " + holding.team + ".";
    var names = holding.agents.join(",");
    if ($("try-agent").dataset.names === names) { return; }
    $("try-agent").dataset.names = names;
    clear($("try-agent"));
    holding.agents.forEach(function (name) {
      addOption($("try-agent"), name, name);
    });
    $("try-take").disabled = holding.agents.length === 0;
  }

  function render(call) {
    for (var n = trial.shown; n < call.lines.length; n += 1) { addLine(call.lines[n]); }
    trial.shown = call.lines.length;
    playNext();
    var asked = JSON.stringify(call.question);
    if (asked !== trial.asked) {
      trial.asked = asked;
      trial.keys = "";
      $("try-typed").value = "";
      showQuestion(call.question);
    }
    light(call.path, call.step);
    showHolding(call.ended_by ? null : call.holding);
    if (call.ended_by) {
      $("try-state").textContent = "Call ended (" + call.ended_by.replace(/-/g, " ") + ")";
      finish();
      loadCalls();
    } else if (call.question) {
      $("try-state").textContent = "At step " + (call.step || "?") + ": waiting for " +
        ({ keys: "keys", dial: "the dial's outcome", record: "a message" })[call.question.kind];
    } else {
      $("try-state").textContent = "At step " + (call.step || "?");
    }
  }

  function finish() {
    if (trial && trial.timer) { clearTimeout(trial.timer); trial.timer = null; }
    if (trial) { trial.over = true; }
    showQuestion(null);
    showHolding(null);
    $("try-call").disabled = false;
    $("try-hang-up").disabled = true;
  }

  function poll() {
    var mine = trial;
    return api("GET", "/test-calls/" + mine.id).then(function (answer) {
      if (!answer.ok) { throw new Error("the test call is gone (" + answer.status + ")"); }
      return answer.json();
    }).then(function (call) {
      if (trial !== mine || mine.over) { return; }
      render(call);
      if (!mine.over) { mine.timer = setTimeout(poll, 300); }
    }).catch(function (error) {
      say(String(error.message || error), true);
      finish();
    });
  }

  function placeCall() {
    if (!current) { return; }
    stopAudio();
    if (trial) { finish(); }
    clear($("try-lines"));
    var body = { workflow_id: current.id, version: $("version").value, from: $("try-from").value };
    $("try-call").disabled = true;
    api("POST", "/test-calls", JSON.stringify(body)).then(function (answer) {
      return answer.json().then(function (result) {
        if (!answer.ok) {
          say(problemText(result, "The call was not placed."), true);
          $("try-call").disabled = false;
          return;
        }
        say("");
        trial = { id: result.id, shown: 0, asked: undefined, keys: "", timer: null, over: false };
        $("try").dataset.call = result.id;
        $("try-hang-up").disabled = false;
        render(result);
        trial.timer = setTimeout(poll, 300);
      });
    });
  }

  function answerCall(answer) {
    if (!trial || trial.over) { return; }
    var mine = trial;
    mine.asked = undefined;
    showQuestion(null);
    api("POST", "/test-calls/" + mine.id + "/answer", JSON.stringify(answer)).then(function (r) {
      if (!r.ok) {
        return r.json().then(function (result) { say(result.detail || "Not answered.", true); });
      }
      return null;
    });
  }

  // --- try it: a test text conversation or chat -----------------------------------------

  // How each kind of conversation workflow is tried: its API and its words.
  var CONVERSATIONS = {
    text: { path: "/test-texts", messages: "/texts", start: "Start a test conversation",
      label: "Text", sent: "Your text: " },
    chat: { path: "/test-chats", messages: "/messages", start: "Open a test chat",
      label: "Write", sent: "Your message: " }
  };
  var texting = null; // {id, kind}: the test conversation under way

  // Workflows tried by texting them: those texts start, and those the conversation events
  // of a text start (automations such as priority by keywords).
  var TEXT_EVENTS = ["sms.received", "message.received", "conversation.opened"];

  // "call", "text" (a workflow texts start) or "chat" (a workflow the web chat starts).
  function tryKind() {
    var event = current && current.trigger && current.trigger.event;
    if (TEXT_EVENTS.indexOf(event) >= 0) { return "text"; }
    if (event === "chat.started") { return "chat"; }
    return "call";
  }

  // A text workflow is tried by texting it, a chat one by chatting, a voice one by calling.
  function showTryKind() {
    var kind = tryKind();
    var calls = kind === "call";
    ["try-call-hint", "try-call", "try-hang-up"].forEach(function (id) { $(id).hidden = !calls; });
    $("try-text-hint").hidden = kind !== "text";
    $("try-chat-hint").hidden = kind !== "chat";
    $("try-from-label").hidden = kind === "chat";
    $("try-text-start").hidden = calls;
    if (!calls) {
      $("try-text-start").textContent = CONVERSATIONS[kind].start;
      $("try-text-label").textContent = CONVERSATIONS[kind].label;
    }
    if (!calls && trial) { stopAudio(); finish(); }
  }

  function endTexting() {
    texting = null;
    clear($("try-thread"));
    $("try-thread").hidden = true;
    $("try-text-form").hidden = true;
    delete $("try").dataset.conversation;
  }

  function describeEvent(entry) {
    if (entry.kind === "note") { return "Internal note: " + entry.body; }
    var details = Object.keys(entry.data).map(function (key) {
      var value = entry.data[key];
      return key + " " + (typeof value === "string" ? value : JSON.stringify(value));
    }).join(", ");
    return entry.kind.replace(/[._]/g, " ") + (details ? ": " + details : "");
  }

  // A chat message's answer buttons; only the latest message's can still be tapped.
  function answerButtons(buttons, latest) {
    var row = document.createElement("span");
    row.className = "choices";
    buttons.forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = pair[1];
      button.disabled = !latest;
      button.addEventListener("click", function () { sendMessage(pair[1], pair[0]); });
      row.appendChild(button);
    });
    return row;
  }

  function renderThread(conversation) {
    var thread = $("try-thread");
    clear(thread);
    var asked = conversation.run_status === "waiting" ? lastAsked(conversation.timeline) : null;
    conversation.timeline.forEach(function (entry) {
      var item = document.createElement("li");
      if (entry.message) {
        var inbound = entry.message.direction === "inbound";
        item.className = inbound ? "from-contact" : "from-workflow";
        item.textContent = entry.message.body;
        if (!inbound && entry.message.status) {
          var note = document.createElement("small");
          note.textContent = "would be sent (" + entry.message.status + "), never is in a test";
          item.appendChild(note);
        }
        if (entry.message.buttons && entry.message.buttons.length) {
          item.appendChild(answerButtons(entry.message.buttons, entry === asked));
        }
      } else {
        item.className = "event";
        item.textContent = describeEvent(entry);
      }
      thread.appendChild(item);
    });
    thread.hidden = false;
    thread.scrollTop = thread.scrollHeight;
    light(conversation.path, conversation.step);
    var sent = conversation.texts || conversation.messages;
    var last = sent[sent.length - 1];
    var kind = texting ? texting.kind : tryKind();
    var outcome = last ? CONVERSATIONS[kind].sent + last.outcome
      : conversation.greeting ? "Greeting: " + conversation.greeting : "";
    var where = conversation.step ? "At step " + conversation.step + " (" +
      conversation.run_status + ")" : "";
    $("try-state").textContent = [outcome, where].filter(Boolean).join(". ");
  }

  // The latest message with answer buttons, when nothing was written after it.
  function lastAsked(timeline) {
    for (var i = timeline.length - 1; i >= 0; i--) {
      var message = timeline[i].message;
      if (!message) { continue; }
      return message.buttons && message.buttons.length ? timeline[i] : null;
    }
    return null;
  }

  function startTexting() {
    if (!current) { return; }
    endTexting();
    var kind = tryKind();
    var body = { workflow_id: current.id, version: $("version").value };
    if (kind === "text") { body.from = $("try-from").value; }
    $("try-text-start").disabled = true;
    api("POST", CONVERSATIONS[kind].path, JSON.stringify(body)).then(function (answer) {
      return answer.json().then(function (result) {
        $("try-text-start").disabled = false;
        if (!answer.ok) { say(problemText(result, "The conversation was not started."), true); return; }
        say("");
        texting = { id: result.id, kind: kind };
        $("try").dataset.conversation = result.id;
        renderThread(result);
        $("try-text-form").hidden = false;
        if (kind === "text") {
          $("try-state").textContent = "Text as " + result.from + " to " + result.to + ".";
        }
        $("try-text-body").focus();
      });
    });
  }

  // The contact texts (or the visitor writes, or taps the answer ``choice``).
  function sendMessage(words, choice) {
    if (!texting || !words.trim()) { return; }
    var mine = texting;
    var kind = CONVERSATIONS[mine.kind];
    var body = mine.kind === "text" ? { body: words } : { text: words };
    if (choice) { body.choice = choice; }
    $("try-state").textContent = "Sending…";
    var path = kind.path + "/" + encodeURIComponent(mine.id) + kind.messages;
    api("POST", path, JSON.stringify(body)).then(function (answer) {
      return answer.json().then(function (result) {
        if (texting !== mine) { return; }
        if (!answer.ok) {
          say(problemText(result, "Not sent."), true);
          $("try-state").textContent = "";
          return;
        }
        renderThread(result);
      });
    });
  }

  function sendText(event) {
    event.preventDefault();
    var words = $("try-text-body").value;
    if (!words.trim()) { return; }
    $("try-text-body").value = "";
    sendMessage(words, null);
  }

  $("try-text-start").addEventListener("click", startTexting);
  $("try-text-form").addEventListener("submit", sendText);

  function sendKeys() {
    answerCall({ kind: "keys", keys: trial ? trial.keys : "" });
  }

  Array.prototype.forEach.call($("try-keys").querySelectorAll(".keypad button"), function (b) {
    b.addEventListener("click", function () {
      if (!trial || trial.over) { return; }
      var question = JSON.parse(trial.asked || "null");
      trial.keys += b.dataset.key;
      $("try-typed").value = trial.keys;
      // Sent when the gather has its digits, or at # (Twilio's finishing key).
      var enough = question && question.num_digits && trial.keys.length >= question.num_digits;
      if (enough || b.dataset.key === "#") { sendKeys(); }
    });
  });
  $("try-send").addEventListener("click", sendKeys);
  $("try-silence").addEventListener("click", function () { answerCall({ kind: "keys", keys: "" }); });
  $("try-words").addEventListener("submit", function (event) {
    event.preventDefault();
    answerCall({ kind: "keys", keys: $("try-said").value });
    $("try-said").value = "";
  });
  $("try-dial-answer").addEventListener("click", function () {
    answerCall({ kind: "dial", status: $("try-dial-status").value,
      seconds: parseInt($("try-dial-seconds").value, 10) || 0 });
  });
  $("try-take").addEventListener("click", function () {
    answerCall({ kind: "agent", agent: $("try-agent").value });
  });
  $("try-record-answer").addEventListener("click", function () {
    answerCall({ kind: "record", seconds: parseInt($("try-record-seconds").value, 10) || 1,
      ended_by: "#" });
  });
  $("try-record-silence").addEventListener("click", function () {
    answerCall({ kind: "record", seconds: 0 });
  });
  $("try-call").addEventListener("click", placeCall);
  $("try-hang-up").addEventListener("click", function () {
    stopAudio();
    answerCall({ kind: "hang_up" });
  });

  $("rollback").addEventListener("click", rollBack);
  $("toggle-enabled").addEventListener("click", toggleEnabled);
  $("recipe").addEventListener("change", showRecipe);
  $("recipe-form").addEventListener("submit", installRecipe);
  $("text-status").addEventListener("change", loadTexts);
  $("texts-refresh").addEventListener("click", loadTexts);
  $("schedules-refresh").addEventListener("click", loadSchedules);
  $("prompts-refresh").addEventListener("click", loadPrompts);
  $("prompt-file").addEventListener("change", function () {
    uploadPrompt($("prompt-file").files[0]);
    $("prompt-file").value = "";
  });
  $("drop").addEventListener("dragover", function (event) {
    event.preventDefault();
    $("drop").classList.add("over");
  });
  $("drop").addEventListener("dragleave", function () { $("drop").classList.remove("over"); });
  $("drop").addEventListener("drop", function (event) {
    event.preventDefault();
    $("drop").classList.remove("over");
    uploadPrompt(event.dataTransfer.files[0]);
  });
  $("drop").addEventListener("keydown", function (event) {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("prompt-file").click(); }
  });
  $("speak").addEventListener("submit", speak);

  $("call-outcome").addEventListener("change", loadCalls);
  $("calls-refresh").addEventListener("click", loadCalls);
  $("jobs-refresh").addEventListener("click", loadJobs);

  $("text").addEventListener("input", function () { gutter([]); });
  $("text").addEventListener("scroll", function () { $("gutter").scrollTop = $("text").scrollTop; });
  $("check").addEventListener("click", check);
  $("save").addEventListener("click", save);
  $("publish").addEventListener("click", publish);
  $("version").addEventListener("change", function () {
    endTexting(); // it texts the version it started with
    show($("version").value);
  });
  $("new-workflow").addEventListener("click", function () {
    endTexting();
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
  // Everything the page shows at first, then a mark: when it was ready, in ms since the
  // navigation started (read by bench/console_pages.py).
  Promise.all([
    loadList(null), loadCalls(), loadJobs(), loadTexts(), loadPrompts(),
    loadSchedules().then(loadRecipes),
  ]).then(function () {
    document.body.dataset.readyMs = String(Math.round(performance.now()));
  }).catch(function (error) { say(String(error.message || error), true); });
}());

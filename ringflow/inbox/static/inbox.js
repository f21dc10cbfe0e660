// Ringflow agent inbox: a small script over the conversations API (/api/...), signed in with
// the session cookie; every state-changing request carries the page's CSRF token. Live
// updates come from /inbox/live (Server-Sent Events): the ids of conversations that changed,
// which the page re-reads, and the chat conversations whose visitor is typing. While the agent
// types a reply (never a note) to a chat visitor, the page tells the server at most every 2 s,
// and the visitor sees it. No framework, no build step.
"use strict";

(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const state = {
    me: null,
    view: "mine",
    items: [],
    selected: 0,
    open: null, // the open conversation (detail)
    inbound: null, // {id, count}: the customer's messages in the open conversation, last seen
  };
  const TYPING_EVERY_MS = 2000; // at most one typing signal this often (chat/typing.py)
  const TYPING_SHOWN_MS = 6000; // a visitor's typing shows this long after its last signal
  let typingTimer = null;
  let typedAt = 0;

  // --- the API ------------------------------------------------------------------------
  async function api(method, path, body) {
    const options = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") options.headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    const response = await fetch("/api" + path, options);
    if (response.status === 401) {
      window.location.assign("/inbox/sign-in");
      throw new Error("signed out");
    }
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const message = (data && (data.detail || data.title)) || response.statusText;
      throw new Error(message);
    }
    return data;
  }

  function say(message, bad) {
    const status = $("status");
    status.textContent = message;
    status.classList.toggle("bad", Boolean(bad));
  }

  async function attempt(work, done) {
    try {
      await work();
      if (done) say(done);
    } catch (error) {
      say(error.message, true);
    }
  }

  // --- formatting ---------------------------------------------------------------------
  const when = (iso) => {
    if (!iso) return "";
    const at = new Date(iso);
    const today = new Date().toDateString() === at.toDateString();
    return today
      ? at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
      : at.toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
  };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  // --- the list -----------------------------------------------------------------------
  function query() {
    const params = new URLSearchParams({ limit: "100" });
    const status = $("filter-status").value;
    const priority = $("filter-priority").value;
    if (status) params.set("status", status);
    if (priority) params.set("priority", priority);
    if (state.view === "mine") params.set("assignee", "me");
    if (state.view === "unassigned") params.set("assignee", "none");
    if (state.view === "team" && $("filter-team").value) params.set("team", $("filter-team").value);
    return params;
  }

  async function loadList() {
    if (state.view === "team" && !$("filter-team").value) {
      state.items = []; // no team: nothing to show
      renderList();
      return;
    }
    const page = await api("GET", "/conversations?" + query());
    state.items = page.items;
    renderList();
  }

  function renderList() {
    const list = $("list");
    const openId = state.open && state.open.id;
    list.replaceChildren(
      ...state.items.map((c, index) => {
        const who = c.assignee.agent || (c.assignee.team ? "team " + c.assignee.team : "unassigned");
        const item = el(
          "li",
          {
            class: "item" + (index === state.selected ? " selected" : "") + (c.unanswered ? " unanswered" : ""),
            "data-id": c.id,
            id: "c-" + c.id,
          },
          el(
            "a",
            { href: "#" + c.id, class: "item-link", "aria-current": c.id === openId ? "true" : null },
            el("span", { class: "contact" }, c.contact_number),
            el("span", { class: "time" }, when(c.last_message_at)),
            el(
              "span",
              { class: "line" },
              el("span", { class: "badge p-" + c.priority }, c.priority),
              el("span", { class: "badge s-" + c.status }, c.status),
              el("span", { class: "assignee" }, who),
              ...c.tags.map((tag) => el("span", { class: "tag" }, tag)),
            ),
          ),
        );
        if (c.id === openId) item.setAttribute("aria-current", "true");
        return item;
      }),
    );
    $("list-empty").hidden = state.items.length > 0;
  }

  // --- one conversation ---------------------------------------------------------------
  const KIND_TEXT = {
    opened: "Conversation opened",
    reopened: "Conversation reopened",
    assigned: "Assigned",
    priority: "Priority",
    tagged: "Tagged",
    untagged: "Untagged",
    snoozed: "Snoozed",
    woke: "Snooze ended",
    closed: "Closed",
    survey: "Survey",
  };

  function actorName(actor) {
    if (actor.type === "contact") return "Customer";
    if (actor.type === "automation") return "Automation";
    return actor.name || actor.type;
  }

  function entryNode(entry) {
    const message = entry.message;
    if (entry.kind === "message.received" || entry.kind === "agent.replied" || entry.kind === "message") {
      const inbound = message ? message.direction === "inbound" : entry.kind === "message.received";
      const kind = inbound ? "customer" : entry.actor.type === "automation" || entry.kind === "message" ? "automation" : "agent";
      const body = message ? message.body : entry.body;
      let delivery = null;
      if (!inbound && message && message.status) delivery = el("span", { class: "delivery" }, message.status);
      if (entry.data && entry.data.delivery === "refused") {
        delivery = el("span", { class: "delivery bad" }, "not sent: " + (entry.data.reason || "refused"));
      }
      return el(
        "li",
        { class: "entry msg " + kind, "data-kind": entry.kind },
        el("span", { class: "who" }, inbound ? "Customer" : actorName(entry.actor)),
        el("p", { class: "body" }, body || ""),
        el("span", { class: "at" }, when(entry.at)),
        delivery,
      );
    }
    if (entry.kind === "note") {
      return el(
        "li",
        { class: "entry note", "data-kind": "note" },
        el("span", { class: "who" }, "Note · " + actorName(entry.actor)),
        el("p", { class: "body" }, entry.body || ""),
        el("span", { class: "at" }, when(entry.at)),
      );
    }
    if (entry.kind === "call") {
      const data = entry.data || {};
      const parts = ["Call", data.direction, data.status, data.duration_seconds ? data.duration_seconds + " s" : null];
      return el(
        "li",
        { class: "entry call", "data-kind": "call" },
        el("span", { class: "body" }, parts.filter(Boolean).join(" · ")),
        el("span", { class: "at" }, when(entry.at)),
      );
    }
    const data = entry.data || {};
    let detail = "";
    if (entry.kind === "assigned" && data.agent_id == null && data.team_id == null) detail = "nobody";
    else if (entry.kind === "priority") detail = data.priority;
    else if (entry.kind === "tagged" || entry.kind === "untagged") detail = data.tag;
    else if (entry.kind === "snoozed") detail = "until " + when(data.until);
    else if (entry.kind === "survey") detail = data.rating ? data.rating + "/5" : data.outcome || "";
    return el(
      "li",
      { class: "entry event", "data-kind": entry.kind },
      el("span", { class: "body" }, (KIND_TEXT[entry.kind] || entry.kind) + (detail ? ": " + detail : "") + " · " + actorName(entry.actor)),
      " · ",
      el("span", { class: "at" }, when(entry.at)),
    );
  }

  // --- typing -------------------------------------------------------------------------
  function showTyping() {
    clearTimeout(typingTimer);
    $("typing").textContent = "Visitor is typing…";
    typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    $("typing").textContent = "";
  }

  function noting() {
    return document.querySelector('input[name="mode"]:checked').value === "note";
  }

  function typed() {
    const c = state.open;
    // A note is never announced: the visitor must not learn that one is being written.
    if (!c || c.channel !== "chat" || noting() || !$("body").value.trim()) return;
    const now = Date.now();
    if (now - typedAt < TYPING_EVERY_MS) return;
    typedAt = now;
    api("POST", `/conversations/${c.id}/typing`).catch(() => {}); // a lost one only expires sooner
  }

  // The typing indicator goes when what was typed arrives (or another conversation opens).
  function followInbound(c) {
    const count = c.timeline.filter((e) =>
      e.message ? e.message.direction === "inbound" : e.kind === "message.received",
    ).length;
    const last = state.inbound;
    if (!last || last.id !== c.id || count > last.count) hideTyping();
    state.inbound = { id: c.id, count };
  }

  function renderOpen() {
    const c = state.open;
    $("view").hidden = !c;
    document.body.classList.toggle("reading", Boolean(c));
    if (!c) {
      state.inbound = null;
      hideTyping();
      return;
    }
    followInbound(c);
    $("v-contact").textContent = c.contact_number;
    const who = c.assignee.agent || "unassigned";
    const team = c.assignee.team ? " · team " + c.assignee.team : "";
    const snoozed = c.status === "snoozed" && c.snoozed_until ? " until " + when(c.snoozed_until) : "";
    $("v-meta").textContent = `${c.channel} · ${c.status}${snoozed} · ${who}${team}`;
    $("a-priority").value = c.priority;
    $("a-close").hidden = c.status === "closed";
    $("a-reopen").hidden = c.status === "open";
    $("a-assign").disabled = Boolean(state.me) && c.assignee.agent === state.me.name;
    $("v-tags").replaceChildren(
      ...c.tags.map((tag) =>
        el("li", { class: "tag" }, tag, el("button", { type: "button", class: "plain untag", title: "Remove " + tag, "data-tag": tag }, "×")),
      ),
    );
    const timeline = $("timeline");
    const atBottom = timeline.scrollHeight - timeline.scrollTop - timeline.clientHeight < 40;
    timeline.replaceChildren(...c.timeline.map(entryNode));
    if (atBottom || timeline.dataset.id !== String(c.id)) timeline.scrollTop = timeline.scrollHeight;
    timeline.dataset.id = String(c.id);
  }

  async function openConversation(id) {
    state.open = await api("GET", "/conversations/" + id);
    typedAt = 0;
    const index = state.items.findIndex((c) => c.id === id);
    if (index >= 0) state.selected = index;
    if (window.location.hash !== "#" + id) history.replaceState(null, "", "#" + id);
    renderList();
    renderOpen();
  }

  async function refreshOpen() {
    if (state.open) state.open = await api("GET", "/conversations/" + state.open.id);
    renderOpen();
  }

  function closeView() {
    state.open = null;
    history.replaceState(null, "", "#");
    renderOpen();
    renderList();
    $("list").focus();
  }

  async function act(path, body, done) {
    if (!state.open) return;
    await attempt(async () => {
      await api("POST", `/conversations/${state.open.id}/${path}`, body);
      await Promise.all([refreshOpen(), loadList()]);
    }, done);
  }

  function snoozeUntil(choice) {
    const at = new Date();
    if (choice === "1h") at.setHours(at.getHours() + 1);
    else if (choice === "4h") at.setHours(at.getHours() + 4);
    else {
      const days = choice === "tomorrow" ? 1 : ((8 - at.getDay()) % 7) || 7;
      at.setDate(at.getDate() + days);
      at.setHours(9, 0, 0, 0);
    }
    return at.toISOString();
  }

  // --- live updates -------------------------------------------------------------------
  // Changes arriving together are read once (50 ms later); the open conversation is re-read
  // when it is among them.
  let pending = null;
  let readOpen = false;
  function changed(ids, everything, texts) {
    const openId = state.open && state.open.id;
    readOpen = readOpen || Boolean(openId && (everything || texts || ids.includes(openId)));
    clearTimeout(pending);
    pending = setTimeout(() => {
      const andOpen = readOpen;
      readOpen = false;
      attempt(async () => {
        await loadList();
        if (andOpen) await refreshOpen();
      });
    }, 50);
  }

  function follow() {
    const source = new EventSource("/inbox/live");
    source.addEventListener("ready", () => {
      $("live").classList.add("on");
      changed([], true); // whatever changed while the stream was down
    });
    source.addEventListener("changed", (event) => {
      const data = JSON.parse(event.data);
      changed(data.ids, data.everything, data.texts);
    });
    source.addEventListener("typing", (event) => {
      const data = JSON.parse(event.data);
      if (state.open && data.ids.includes(state.open.id)) showTyping();
    });
    source.onerror = () => $("live").classList.remove("on");
  }

  // --- wiring -------------------------------------------------------------------------
  function setView(view) {
    state.view = view;
    for (const button of document.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === view));
    }
    $("filter-team").hidden = view !== "team";
    state.selected = 0;
    attempt(loadList);
  }

  function mode(which) {
    document.querySelector(`input[name="mode"][value="${which}"]`).checked = true;
    $("composer").classList.toggle("noting", which === "note");
    $("body").placeholder = which === "note" ? "Write an internal note (never sent)… (Ctrl+Enter adds it)" : "Write a reply… (Ctrl+Enter sends)";
    $("send").textContent = which === "note" ? "Add note" : "Send";
    typedAt = 0;
    $("body").focus();
  }

  async function send(event) {
    if (event) event.preventDefault();
    const text = $("body").value.trim();
    if (!text || !state.open) return;
    const note = noting();
    const body = note ? { body: text } : { body: text, idempotency_key: crypto.randomUUID() };
    $("send").disabled = true;
    try {
      await act(note ? "notes" : "replies", body, note ? "Note added" : "Reply sent");
      // Cleared only if it still holds what was sent: what the agent wrote meanwhile (a
      // note after a reply still on its way) stays.
      if (!$("status").classList.contains("bad") && $("body").value.trim() === text) {
        $("body").value = "";
      }
      typedAt = 0;
    } finally {
      $("send").disabled = false;
    }
  }

  function move(step) {
    if (!state.items.length) return;
    state.selected = Math.max(0, Math.min(state.items.length - 1, state.selected + step));
    renderList();
    const item = $("list").children[state.selected];
    if (item) item.scrollIntoView({ block: "nearest" });
  }

  function keys(event) {
    const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(event.target.tagName);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && event.target.id === "body") {
      send(event);
      return;
    }
    if (event.key === "Escape") {
      if (typing) event.target.blur();
      else if (state.open) closeView();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey || $("help").open) return;
    const current = state.items[state.selected];
    const handlers = {
      j: () => move(1),
      k: () => move(-1),
      o: () => current && attempt(() => openConversation(current.id)),
      Enter: () => current && attempt(() => openConversation(current.id)),
      r: () => state.open && mode("reply"),
      n: () => state.open && mode("note"),
      a: () => state.open && state.me && act("assign", { agent: state.me.name }, "Assigned to you"),
      c: () => state.open && state.open.status !== "closed" && act("close", undefined, "Closed"),
      s: () => state.open && act("snooze", { until: snoozeUntil("1h") }, "Snoozed"),
      "1": () => setView("mine"),
      "2": () => setView("unassigned"),
      "3": () => setView("team"),
      "4": () => setView("all"),
      "?": () => $("help").showModal(),
    };
    const handler = handlers[event.key];
    if (handler) {
      event.preventDefault();
      handler();
    }
  }

  async function start() {
    state.me = await api("GET", "/me");
    $("me").textContent = state.me.display_name || state.me.name;
    const presence = $("presence");
    if (state.me.status === "offline") presence.add(new Option("Offline", "offline"));
    presence.value = state.me.status;
    const teams = $("filter-team");
    teams.replaceChildren(...state.me.teams.map((team) => new Option(team, team)));
    if (!state.me.teams.length) teams.add(new Option("no team", ""));
    teams.hidden = true;

    for (const button of document.querySelectorAll("[data-view]")) {
      button.addEventListener("click", () => setView(button.dataset.view));
    }
    for (const id of ["filter-team", "filter-status", "filter-priority"]) {
      $(id).addEventListener("change", () => attempt(loadList));
    }
    presence.addEventListener("change", () =>
      attempt(async () => {
        state.me = await api("PUT", "/me/status", { status: presence.value });
      }, "You are " + presence.value),
    );
    $("list").addEventListener("click", (event) => {
      const item = event.target.closest("li[data-id]");
      if (!item) return;
      event.preventDefault();
      attempt(() => openConversation(Number(item.dataset.id)));
    });
    $("back").addEventListener("click", closeView);
    $("a-assign").addEventListener("click", () => act("assign", { agent: state.me.name }, "Assigned to you"));
    $("a-priority").addEventListener("change", () => act("priority", { priority: $("a-priority").value }, "Priority set"));
    $("a-snooze").addEventListener("change", () => {
      const choice = $("a-snooze").value;
      $("a-snooze").value = "";
      if (choice) act("snooze", { until: snoozeUntil(choice) }, "Snoozed");
    });
    $("a-close").addEventListener("click", () => act("close", undefined, "Closed"));
    $("a-reopen").addEventListener("click", () => act("reopen", undefined, "Reopened"));
    $("tag-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const tag = $("tag-input").value.trim();
      if (!tag) return;
      $("tag-input").value = "";
      act("tags", { tag }, "Tagged " + tag);
    });
    $("v-tags").addEventListener("click", (event) => {
      const button = event.target.closest("button[data-tag]");
      if (!button || !state.open) return;
      attempt(async () => {
        await api("DELETE", `/conversations/${state.open.id}/tags/${encodeURIComponent(button.dataset.tag)}`);
        await Promise.all([refreshOpen(), loadList()]);
      });
    });
    for (const radio of document.querySelectorAll('input[name="mode"]')) {
      radio.addEventListener("change", () => mode(radio.value));
    }
    $("composer").addEventListener("submit", send);
    $("body").addEventListener("input", typed);
    $("help-open").addEventListener("click", () => $("help").showModal());
    document.addEventListener("keydown", keys);

    setView("mine");
    const id = Number(window.location.hash.slice(1));
    if (id) await attempt(() => openConversation(id));
    follow();
  }

  start().catch((error) => say(error.message, true));
})();

/*
 * Ringflow web chat widget. Plain JavaScript, no build step, no third-party code.
 *
 * Embed with one tag (served by your Ringflow server):
 *   <script src="https://ringflow.example.com/chat/widget.js" async
 *           data-title="Acme" data-open="false"
 *           data-identity='{"user_id":"42","member":true}' data-identity-hmac="<hex>"></script>
 *
 * It keeps the visitor id the server issued in this site's localStorage, talks to
 * /chat/socket over a WebSocket, reconnects with exponential back-off (0.5 s doubling to 30 s,
 * with jitter) and resumes after the last message it has: nothing missed, nothing twice.
 * Messages typed while offline wait in an outbox and are sent (once: each has a key) on
 * reconnect. While the visitor types it tells the server (at most every 2 s); while an agent
 * types a reply it shows "<name> is typing…" for a few seconds. See docs/chat.md.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.RingflowChat) { return; }
  var base = new URL(script.src, document.baseURI);
  var root = base.href.replace(/\/chat\/widget\.js(\?.*)?$/, "");
  var socketUrl = root.replace(/^http/, "ws") + "/chat/socket";
  var data = script.dataset;
  var STORE = "ringflow.chat.visitor";
  var OUTBOX = "ringflow.chat.outbox";
  var TYPING_EVERY_MS = 2000; // at most one typing signal this often (chat/typing.py)
  var TYPING_SHOWN_MS = 6000; // an agent's typing shows this long after its last signal

  var state = {
    socket: null, cursor: 0, connected: false, delay: 500, timer: null, opened: false,
    outbox: load(OUTBOX, []), seen: {}, attempts: 0, typedAt: 0, typingTimer: null
  };

  function load(key, fallback) {
    try { var v = window.localStorage.getItem(key); return v ? JSON.parse(v) : fallback; }
    catch (e) { return fallback; }
  }
  function save(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* private mode */ }
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }
  function newKey() {
    var bytes = new Uint8Array(12);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  var css = el("link");
  css.rel = "stylesheet";
  css.href = root + "/chat/widget.css";
  document.head.appendChild(css);

  var box = el("div", "rf-chat");
  box.setAttribute("data-state", "closed");
  var launcher = el("button", "rf-launcher", data.launcher || "Chat with us");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  var panel = el("section", "rf-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", data.title || "Chat");
  panel.hidden = true;
  var header = el("header", "rf-header");
  header.appendChild(el("span", "rf-title", data.title || "Chat"));
  var status = el("span", "rf-status", "");
  status.setAttribute("role", "status");
  header.appendChild(status);
  var closer = el("button", "rf-close", "\u00d7");
  closer.type = "button";
  closer.setAttribute("aria-label", "Close chat");
  header.appendChild(closer);
  var log = el("ol", "rf-log");
  log.setAttribute("aria-live", "polite");
  // Who is typing: a polite live region, always in the page (a region added later may not
  // be announced), empty when nobody is.
  var typing = el("div", "rf-typing");
  typing.setAttribute("aria-live", "polite");
  var details = el("form", "rf-details");
  details.hidden = true;
  [["name", "Your name", "text"], ["email", "Email", "email"], ["phone", "Phone (+1 555...)", "tel"]].forEach(function (f) {
    var input = el("input");
    input.name = f[0]; input.placeholder = f[1]; input.type = f[2];
    input.setAttribute("aria-label", f[1]);
    details.appendChild(input);
  });
  var saveDetails = el("button", "rf-save", "Save");
  saveDetails.type = "submit";
  details.appendChild(saveDetails);
  var form = el("form", "rf-compose");
  var input = el("input", "rf-input");
  input.type = "text";
  input.placeholder = "Type a message\u2026";
  input.setAttribute("aria-label", "Message");
  input.maxLength = 2000;
  var send = el("button", "rf-send", "Send");
  send.type = "submit";
  var who = el("button", "rf-who", "Me");
  who.type = "button";
  who.title = "Leave your name, email or phone";
  form.appendChild(who);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(typing);
  panel.appendChild(details);
  panel.appendChild(form);
  box.appendChild(panel);
  box.appendChild(launcher);

  function setStatus(text, name) {
    status.textContent = text;
    box.setAttribute("data-connection", name);
  }

  function showTyping(name) {
    clearTimeout(state.typingTimer);
    typing.textContent = (name || "Someone") + " is typing\u2026";
    state.typingTimer = setTimeout(hideTyping, TYPING_SHOWN_MS);
  }
  function hideTyping() {
    clearTimeout(state.typingTimer);
    typing.textContent = "";
  }

  function render(message) {
    if (state.seen[message.id]) { return; }
    state.seen[message.id] = true;
    if (message.from !== "visitor") { hideTyping(); } // what they were typing has arrived
    if (message.client_key) {
      var pending = log.querySelector('[data-client-key="' + message.client_key + '"]');
      if (pending) { pending.remove(); }
      state.outbox = state.outbox.filter(function (m) { return m.client_key !== message.client_key; });
      save(OUTBOX, state.outbox);
    }
    Array.prototype.forEach.call(log.querySelectorAll(".rf-buttons"), function (row) {
      row.remove(); // answers belong to the latest question only
    });
    var item = el("li", "rf-msg rf-" + message.from);
    item.setAttribute("data-id", String(message.id));
    item.appendChild(el("div", "rf-bubble", message.text));
    log.appendChild(item);
    if (message.buttons && message.buttons.length) {
      var row = el("div", "rf-buttons");
      // A survey's 1-5 rating: a row of numbers (each labelled "Very poor"... as its title).
      var scale = message.buttons.map(function (b) { return b.key; }).join("") === "12345";
      if (scale) { row.className += " rf-scale"; }
      message.buttons.forEach(function (b) {
        var button = el("button", "rf-answer", scale ? b.key : b.label);
        button.type = "button";
        button.title = b.label;
        if (scale) { button.setAttribute("aria-label", b.key + " " + b.label); }
        button.setAttribute("data-key", b.key);
        button.addEventListener("click", function () {
          row.remove();
          post(b.label, b.key);
        });
        row.appendChild(button);
      });
      item.appendChild(row);
    }
    log.scrollTop = log.scrollHeight;
  }

  function showPending(m) {
    var item = el("li", "rf-msg rf-visitor rf-pending");
    item.setAttribute("data-client-key", m.client_key);
    item.appendChild(el("div", "rf-bubble", m.text));
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function transmit(m) {
    if (state.connected) {
      var frame = { type: "message", text: m.text, client_key: m.client_key };
      if (m.choice) { frame.choice = m.choice; }
      state.socket.send(JSON.stringify(frame));
    }
  }

  function post(text, choice) {
    var m = { text: text, choice: choice || null, client_key: newKey() };
    state.outbox.push(m);
    save(OUTBOX, state.outbox);
    showPending(m);
    transmit(m);
  }

  function notice(text) {
    var item = el("li", "rf-notice", text);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function connect() {
    clearTimeout(state.timer);
    setStatus("Connecting\u2026", "connecting");
    var socket;
    try { socket = new WebSocket(socketUrl); } catch (e) { return retry(); }
    state.socket = socket;
    socket.onopen = function () {
      var hello = { type: "hello", visitor: load(STORE, null), after: state.cursor };
      if (data.identity) { hello.identity = data.identity; hello.identity_hmac = data.identityHmac || ""; }
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (e) { return; }
      if (frame.type === "welcome") {
        if (frame.visitor !== load(STORE, null)) {
          save(STORE, frame.visitor);
        }
        state.connected = true;
        state.delay = 500;
        state.attempts = 0;
        setStatus("", "online");
        state.outbox.forEach(transmit);
      } else if (frame.type === "message") {
        if (frame.id > state.cursor) { state.cursor = frame.id; }
        render(frame);
      } else if (frame.type === "typing") {
        showTyping(frame.name);
      } else if (frame.type === "error") {
        notice(frame.message);
        if (frame.code === "too_long" || frame.code === "empty" || frame.code === "bad_key") {
          state.outbox = []; // the server will never take them: do not resend forever
          save(OUTBOX, state.outbox);
          Array.prototype.forEach.call(log.querySelectorAll(".rf-pending"), function (n) { n.remove(); });
        }
      } else if (frame.type === "contact") {
        details.hidden = true;
        notice(frame.name ? "Thanks, " + frame.name + "." : "Thanks.");
      }
    };
    socket.onclose = function () {
      if (state.socket !== socket) { return; }
      state.connected = false;
      retry();
    };
  }

  function retry() {
    state.attempts += 1;
    var wait = Math.min(state.delay, 30000) * (0.8 + Math.random() * 0.4);
    state.delay = Math.min(state.delay * 2, 30000);
    setStatus("Offline \u2013 reconnecting\u2026", "offline");
    state.timer = setTimeout(connect, wait);
  }

  function open() {
    panel.hidden = false;
    box.setAttribute("data-state", "open");
    launcher.setAttribute("aria-expanded", "true");
    if (!state.opened) {
      state.opened = true;
      state.outbox.forEach(showPending);
      connect();
    }
    input.focus();
  }
  function close() {
    panel.hidden = true;
    box.setAttribute("data-state", "closed");
    launcher.setAttribute("aria-expanded", "false");
    launcher.focus();
  }

  launcher.addEventListener("click", function () { if (panel.hidden) { open(); } else { close(); } });
  closer.addEventListener("click", close);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") { close(); } });
  who.addEventListener("click", function () { details.hidden = !details.hidden; });
  input.addEventListener("input", function () {
    var now = Date.now();
    if (!state.connected || !input.value.trim() || now - state.typedAt < TYPING_EVERY_MS) { return; }
    state.typedAt = now;
    state.socket.send(JSON.stringify({ type: "typing" }));
  });
  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    state.typedAt = 0; // the next message's first key says "typing" again at once
    post(text, null);
  });
  details.addEventListener("submit", function (e) {
    e.preventDefault();
    if (!state.connected) { notice("Offline: try again in a moment."); return; }
    state.socket.send(JSON.stringify({
      type: "contact", name: details.elements.name.value,
      email: details.elements.email.value, phone: details.elements.phone.value
    }));
  });

  function mount() {
    document.body.appendChild(box);
    if (data.open === "true") { open(); }
  }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }

  window.RingflowChat = {
    open: open,
    close: close,
    /* Drops the connection as a network failure would (tests, and "reconnect now"). */
    drop: function () { if (state.socket) { state.socket.close(4001, "dropped"); } },
    state: state
  };
})();

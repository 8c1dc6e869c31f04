/* The notification editor: under each notification body (textarea[data-editor="body"]), on a
   notification's own page and in the inlines of its operation's page:
   - the check of the draft as it is typed (the server's validation: JSON errors with line and
     column, unknown mnemonics named, URL and filter problems); a problem with a place is a
     button that selects it in its field, and the body's line numbers mark the lines in error;
   - the mnemonic palette of the chosen communication type (a click inserts at the cursor of
     the URL or the body, whichever had the focus last); for the keyboard it is one Tab stop,
     a toolbar whose buttons the arrow keys, Home and End move between (a roving tabindex);
   - a preview of the rendered URL and body, from sample values or a recent real event;
   - "Paste the URL from Mindbox": the integration point's id put in place of the placeholder,
     the operation compared with this notification's;
   - a builder of the filter conditions (rows of field, Include/Exclude, values; AND/OR) that
     writes the JSON field, which stays available behind "Show JSON".
   Endpoints and Russian labels come in the textarea's data attributes. No dependencies. */
(function () {
  "use strict";

  var CHECK_DELAY = 350;

  function format(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  /* The server counts characters (code points); a textarea's offsets are UTF-16 units, which
     differ after a character outside the BMP (an emoji in a constant). */
  function utf16Offset(text, codePoints) {
    var i = 0;
    for (var n = 0; n < codePoints && i < text.length; n++) {
      var unit = text.charCodeAt(i);
      i += unit >= 0xD800 && unit <= 0xDBFF && i + 1 < text.length ? 2 : 1;
    }
    return i;
  }

  function Editor(textarea) {
    this.body = textarea;
    this.target = textarea;  // where the palette inserts: the URL or the body, last focused
    this.problems = [];
    this.errorLines = {};
    this.form = textarea.form;
    this.prefix = textarea.name.slice(0, textarea.name.length - "body".length);
    this.labels = JSON.parse(textarea.dataset.labels || "{}");
    this.urls = {
      palette: textarea.dataset.paletteUrl,
      check: textarea.dataset.checkUrl,
      preview: textarea.dataset.previewUrl,
      fillUrl: textarea.dataset.fillUrlUrl,
      testSend: textarea.dataset.testSendUrl
    };
    this.sequence = 0;
    this.timer = null;
    this.paletteType = null;
    this.paletteCurrent = null;  // the mnemonic the palette's Tab stop remembers
    this.build();
    this.bind();
    this.buildUrlHelper();
    this.filters = this.field("filters") ? new FilterBuilder(this, this.field("filters")) : null;
    this.loadPalette();
    if (this.body.value.trim()) { this.scheduleCheck(0); }
  }

  Editor.prototype.field = function (name) {
    return this.form.elements[this.prefix + name] || null;
  };

  Editor.prototype.value = function (name) {
    var field = this.field(name);
    return field ? field.value : "";
  };

  Editor.prototype.build = function () {
    var L = this.labels;
    var id = (this.body.id || "body") + "-editor";
    this.status = el("div", {"class": "editor-check", role: "status", "aria-live": "polite", id: id + "-check"});
    this.paletteTitle = el("strong", {id: id + "-palette-title"});
    this.targetNote = el("span", {"class": "palette-target"});
    this.search = el("input", {type: "search", "class": "palette-search", placeholder: L.palette_filter,
      "aria-label": L.palette_filter});
    this.list = el("ul", {"class": "palette-list"});
    // One Tab stop for all the buttons: the WAI-ARIA toolbar pattern (see bindPaletteKeys).
    this.toolbar = el("div", {"class": "palette-toolbar", role: "toolbar", "aria-orientation": "vertical",
      "aria-labelledby": id + "-palette-title", "aria-describedby": id + "-palette-keys"}, [this.list]);
    this.palette = el("div", {"class": "mnemonic-palette"}, [
      el("div", {"class": "palette-head"}, [this.paletteTitle, this.targetNote, this.search]),
      this.toolbar,
      el("p", {"class": "palette-keys", id: id + "-palette-keys", text: L.palette_keys})
    ]);
    this.source = el("select", {"class": "preview-source", id: id + "-source"});
    this.previewButton = el("button", {type: "button", "class": "button preview-button", text: L.preview_button});
    this.previewOut = el("div", {"class": "editor-preview", "aria-live": "polite"});
    this.testSendButton = el("button", {type: "button", "class": "button test-send-button", text: L.test_send_button,
      "aria-describedby": id + "-test-send-note"});
    this.testSendOut = el("div", {"class": "test-send", "aria-live": "polite"});
    this.container = el("div", {"class": "notification-editor"}, [
      this.status,
      this.palette,
      el("div", {"class": "editor-actions"}, [
        el("label", {"for": id + "-source", text: L.preview_values}), this.source, this.previewButton,
        this.testSendButton
      ]),
      el("p", {"class": "help test-send-note", id: id + "-test-send-note", text: L.test_send_note}),
      this.previewOut,
      this.testSendOut
    ]);
    this.body.setAttribute("aria-describedby", id + "-check");
    // Line numbers beside the body; lines are not wrapped, so each number stays with its line.
    this.gutter = el("div", {"class": "body-gutter", "aria-hidden": "true"});
    this.frame = el("div", {"class": "body-frame"});
    this.body.setAttribute("wrap", "off");
    this.body.insertAdjacentElement("beforebegin", this.frame);
    this.frame.appendChild(this.gutter);
    this.frame.appendChild(this.body);
    this.frame.insertAdjacentElement("afterend", this.container);
    this.renderGutter();
    this.showTarget();
  };

  Editor.prototype.renderGutter = function () {
    var count = this.body.value.split("\n").length, gutter = this.gutter, marks = this.errorLines;
    while (gutter.children.length < count) {
      gutter.appendChild(el("div", {text: String(gutter.children.length + 1)}));
    }
    while (gutter.children.length > count) { gutter.removeChild(gutter.lastChild); }
    Array.prototype.forEach.call(gutter.children, function (line, index) {
      line.className = marks[index + 1] ? "error-line" : "";
    });
    gutter.scrollTop = this.body.scrollTop;
  };

  Editor.prototype.showTarget = function () {
    var L = this.labels;
    this.targetNote.textContent = format(L.insert_into, {field: this.target === this.body ? L.preview_body : L.preview_url});
  };

  Editor.prototype.bind = function () {
    var self = this;
    ["body", "url", "filters", "headers"].forEach(function (name) {
      var field = self.field(name);
      if (field) { field.addEventListener("input", function () { self.scheduleCheck(CHECK_DELAY); }); }
    });
    ["communication_type", "operation"].forEach(function (name) {
      var field = self.field(name);
      if (!field) { return; }
      var changed = function () { self.loadPalette(); self.scheduleCheck(0); };
      field.addEventListener("change", changed);
      // The operation's autocomplete (select2) announces a choice through jQuery only.
      if (window.django && window.django.jQuery && field.tagName === "SELECT") {
        window.django.jQuery(field).on("select2:select select2:clear", changed);
      }
    });
    [this.body, this.field("url")].forEach(function (field) {
      if (field) { field.addEventListener("focus", function () { self.target = field; self.showTarget(); }); }
    });
    this.body.addEventListener("input", function () { self.renderGutter(); });
    this.body.addEventListener("scroll", function () { self.gutter.scrollTop = self.body.scrollTop; });
    this.list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-mnemonic]");
      if (button) { event.preventDefault(); self.insert(button.dataset.mnemonic); }
    });
    this.status.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-problem]");
      if (button) { event.preventDefault(); self.jump(self.problems[Number(button.dataset.problem)].place); }
    });
    this.bindPaletteKeys();
    this.search.addEventListener("input", function () { self.filterPalette(); });
    this.search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }  // not the page's Save
    });
    this.previewButton.addEventListener("click", function (event) { event.preventDefault(); self.preview(); });
    this.testSendButton.addEventListener("click", function (event) { event.preventDefault(); self.testSend(); });
  };

  /* The palette as a toolbar: only one button is in the Tab order (tabindex 0, the others -1);
     the arrow keys move to the next or previous one, Home and End to the first and last, among
     the buttons the search leaves visible; Enter and Space are the button's own click. */
  Editor.prototype.paletteButtons = function () {
    return Array.prototype.slice.call(this.list.querySelectorAll("li:not([hidden]) > button[data-mnemonic]"));
  };

  Editor.prototype.setPaletteStop = function (button) {
    Array.prototype.forEach.call(this.list.querySelectorAll("button[data-mnemonic]"), function (other) {
      other.tabIndex = other === button ? 0 : -1;
    });
  };

  /* After the list or the search changes: the button last focused keeps the Tab stop while it
     is visible; while the search hides it the first visible one has the stop, and it gets the
     stop back when the search shows it again (unless another button was focused meanwhile). */
  Editor.prototype.updatePaletteStop = function () {
    var buttons = this.paletteButtons(), current = this.paletteCurrent;
    this.setPaletteStop(buttons.filter(function (button) { return button.dataset.mnemonic === current; })[0] ||
      buttons[0] || null);
  };

  Editor.prototype.bindPaletteKeys = function () {
    var self = this;
    this.list.addEventListener("focusin", function (event) {
      var button = event.target.closest("button[data-mnemonic]");
      if (!button) { return; }
      self.paletteCurrent = button.dataset.mnemonic;
      self.setPaletteStop(button);
    });
    this.list.addEventListener("keydown", function (event) {
      var button = event.target.closest("button[data-mnemonic]");
      if (!button || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) { return; }
      var buttons = self.paletteButtons(), index = buttons.indexOf(button), last = buttons.length - 1, next;
      if (index === -1) { return; }
      switch (event.key) {
        case "ArrowDown": case "ArrowRight": next = index === last ? 0 : index + 1; break;
        case "ArrowUp": case "ArrowLeft": next = index === 0 ? last : index - 1; break;
        case "Home": next = 0; break;
        case "End": next = last; break;
        default: return;
      }
      event.preventDefault();  // not the list's scroll: the focused button is scrolled into view
      buttons[next].focus();  // focusin moves the Tab stop there
    });
  };

  /* At the cursor of the field last focused, in place of its selection; the input event
     runs the check again. */
  Editor.prototype.insert = function (name) {
    var field = this.target, start = field.selectionStart, end = field.selectionEnd;
    field.focus();
    field.setRangeText("{{" + name + "}}", start, end, "end");
    field.dispatchEvent(new Event("input", {bubbles: true}));
  };

  /* Focus the problem's field with its text selected, scrolled so that the selection shows. */
  Editor.prototype.jump = function (place) {
    var field = place.field === "url" ? this.field("url") : this.body;
    if (!field) { return; }
    var text = field.value;
    field.focus();
    field.setSelectionRange(utf16Offset(text, place.start), utf16Offset(text, place.end));
    if (field === this.body) {
      var style = getComputedStyle(field), lineHeight = parseFloat(style.lineHeight) || 16;
      var probe = document.createElement("canvas").getContext("2d");
      probe.font = style.font;
      var charWidth = probe.measureText("0").width || 8;
      field.scrollTop = Math.max(0, (place.line - 1) * lineHeight - field.clientHeight / 3);
      field.scrollLeft = Math.max(0, (place.column - 1) * charWidth - field.clientWidth / 2);
      this.gutter.scrollTop = field.scrollTop;
    }
  };

  Editor.prototype.draft = function () {
    return {
      operation: this.value("operation"),
      notification: this.body.dataset.notification || "",  // saved: for the audit log of test sends
      name: this.value("name"),
      communication_type: this.value("communication_type"),
      url: this.value("url"),
      body: this.value("body"),
      filters: this.value("filters"),
      headers: this.value("headers"),
      event: this.source.value
    };
  };

  Editor.prototype.post = function (url, data) {
    var token = this.form.querySelector("input[name=csrfmiddlewaretoken]");
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
      body: JSON.stringify(data)
    }).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    });
  };

  Editor.prototype.scheduleCheck = function (delay) {
    var self = this;
    clearTimeout(this.timer);
    this.timer = setTimeout(function () { self.check(); }, delay);
  };

  Editor.prototype.check = function () {
    var self = this, L = this.labels, sequence = ++this.sequence;
    this.status.className = "editor-check checking";
    this.status.textContent = L.checking;
    this.post(this.urls.check, this.draft()).then(function (result) {
      if (sequence !== self.sequence) { return; }  // a later check is on its way
      self.showCheck(result);
    }, function (error) {
      if (sequence !== self.sequence) { return; }
      self.status.className = "editor-check bad";
      self.status.textContent = format(L.check_failed, {status: error.message});
    });
  };

  Editor.prototype.showCheck = function (result) {
    var L = this.labels, marks = {};
    this.problems = result.problems;
    this.status.textContent = "";
    this.status.dataset.ok = result.ok ? "yes" : "no";
    result.problems.forEach(function (problem) {
      if (problem.place && problem.place.field === "body") { marks[problem.place.line] = true; }
    });
    this.errorLines = marks;
    this.renderGutter();
    this.body.setAttribute("aria-invalid", result.errors.body ? "true" : "false");
    if (result.ok) {
      var warnings = result.warnings || [];
      this.status.className = warnings.length ? "editor-check warn" : "editor-check ok";
      this.status.textContent = L.check_ok;
      if (warnings.length) {  // saved as it is, but likely not what was meant: said before Save
        var notes = el("ul", {"class": "editor-warnings"});
        warnings.forEach(function (message) { notes.appendChild(el("li", {text: message})); });
        this.status.appendChild(notes);
      }
      return;
    }
    this.status.className = "editor-check bad";
    var list = el("ul", {"class": "editor-problems"});
    result.problems.forEach(function (problem, index) {
      var item = el("li", {"data-field": problem.field});
      var place = problem.place;
      if (place) {
        var label = format(place.field === "url" ? L.problem_at_url : L.problem_at,
          {line: place.line, column: place.column, message: problem.message});
        item.appendChild(el("button", {type: "button", "class": "problem-jump", "data-problem": String(index),
          "data-line": String(place.line), "data-column": String(place.column), title: L.problem_jump, text: label}));
      } else {
        item.textContent = problem.message;
      }
      list.appendChild(item);
    });
    this.status.appendChild(list);
  };

  Editor.prototype.loadPalette = function () {
    var self = this, L = this.labels;
    var ctype = this.value("communication_type");
    var query = "?type=" + encodeURIComponent(ctype) + "&operation=" + encodeURIComponent(this.value("operation"));
    if (!ctype) {
      this.paletteTitle.textContent = L.no_type;
      this.list.textContent = "";
      return;
    }
    fetch(this.urls.palette + query, {credentials: "same-origin"}).then(function (response) {
      if (!response.ok) { throw new Error(String(response.status)); }
      return response.json();
    }).then(function (data) {
      if (data.type !== self.value("communication_type")) { return; }
      self.renderPalette(data);
    }, function (error) {
      self.paletteTitle.textContent = format(L.check_failed, {status: error.message});
    });
  };

  Editor.prototype.renderPalette = function (data) {
    var L = this.labels, list = this.list;
    this.paletteTitle.textContent = format(L.palette_title, {type: data.label});
    list.textContent = "";
    data.mnemonics.forEach(function (m) {
      var button = el("button", {type: "button", "data-mnemonic": m.name, tabindex: "-1",
        "aria-label": format(L.insert, {name: m.name, meaning: m.meaning}), text: "{{" + m.name + "}}"});
      var parts = [button, el("span", {"class": "meaning", text: m.meaning})];
      // How often it came in the account's recent events of the type: public call bodies rarely
      // carry visitor_name or utm_*, so a body relying on one is seen to before Save says so.
      if (m.of) {
        parts.push(el("span", {"class": "arrived" + (m.arrived ? "" : " never"),
          text: format(L.arrived_of, {count: m.arrived, total: m.of})}));
      }
      // The catalogue's values are made up: said to be samples, never taken for data.
      if (m.sample !== null && m.sample !== undefined) {
        parts.push(el("span", {"class": "sample", text: format(L.sample_of, {value: JSON.stringify(m.sample)})}));
      }
      var item = el("li", {"data-name": m.name, "class": m.seen ? "seen" : ""}, parts);
      list.appendChild(item);
    });
    this.filterPalette();
    if (this.filters) { this.filters.setFields(data.mnemonics, data.filter_values || {}); }
    var current = this.source.value;
    this.source.textContent = "";
    this.source.appendChild(el("option", {value: "", text: L.sample_values}));
    var source = this.source;
    data.events.forEach(function (event) {
      source.appendChild(el("option", {value: String(event.id), text: format(L.event_values, {event: event.label})}));
    });
    if (current && source.querySelector("option[value='" + current + "']")) { source.value = current; }
  };

  Editor.prototype.filterPalette = function () {
    var term = this.search.value.trim().toLowerCase();
    Array.prototype.forEach.call(this.list.children, function (item) {
      item.hidden = Boolean(term) && item.textContent.toLowerCase().indexOf(term) === -1;
    });
    this.updatePaletteStop();
  };

  Editor.prototype.preview = function () {
    var self = this, L = this.labels, out = this.previewOut;
    out.textContent = L.checking;
    this.post(this.urls.preview, this.draft()).then(function (result) {
      out.textContent = "";
      if (result.error) {
        out.appendChild(el("p", {"class": "errornote preview-error", text: result.error}));
        return;
      }
      out.appendChild(el("p", {}, [el("strong", {text: L.preview_url})]));
      out.appendChild(el("pre", {"class": "preview-url", text: result.url}));
      out.appendChild(el("p", {}, [el("strong", {text: L.preview_headers})]));
      out.appendChild(el("pre", {"class": "preview-headers", text: Object.keys(result.headers).map(function (name) {
        return name + ": " + result.headers[name];
      }).join("\n")}));
      out.appendChild(el("p", {}, [el("strong", {text: L.preview_body})]));
      out.appendChild(el("pre", {"class": "preview-body", text: result.body_indented}));
      out.appendChild(el("p", {"class": "help", text: L.preview_note}));
    }, function (error) {
      out.textContent = format(L.check_failed, {status: error.message});
    });
  };



  Editor.prototype.testSend = function () {
    var self = this, L = this.labels, out = this.testSendOut;
    out.textContent = L.test_sending;
    this.testSendButton.disabled = true;
    this.post(this.urls.testSend, this.draft()).then(function (result) {
      self.testSendButton.disabled = false;
      out.textContent = "";
      if (!result.sent) {
        out.appendChild(el("p", {"class": "errornote test-send-error", text: format(L.test_send_not_sent, {error: result.error})}));
        return;
      }
      var verdict = {delivered: L.test_send_delivered, failed: L.test_send_failed, retry: L.test_send_retry}[result.outcome] || result.outcome;
      out.appendChild(el("p", {"class": "test-send-outcome outcome-" + result.outcome}, [
        el("strong", {text: verdict}),
        el("span", {text: " · " + format(L.test_send_timing, {status: result.http_status === null ? "—" : result.http_status,
          ms: result.duration_ms}) + (result.error ? " · " + result.error : "")})
      ]));
      if (result.fields.length) {
        out.appendChild(el("h4", {text: L.test_send_fields}));
        var list = el("ul", {"class": "test-send-fields"});
        result.fields.forEach(function (f) {
          var item = el("li", {"data-location": f.location}, [el("code", {text: f.location || "/"})]);
          if (f.template) { item.appendChild(el("span", {"class": "test-send-template", text: " (" + format(L.test_send_template, {template: f.template}) + ")"})); }
          item.appendChild(el("span", {text: ": " + f.message}));
          list.appendChild(item);
        });
        out.appendChild(list);
      }
      var headers = Object.keys(result.request_headers).map(function (name) {
        return name + ": " + result.request_headers[name];
      }).join("\n");
      out.appendChild(el("h4", {text: L.test_send_request}));
      out.appendChild(el("pre", {"class": "test-send-request", text: "POST " + result.request_url + "\n" + headers + "\n\n" + result.request_body}));
      out.appendChild(el("h4", {text: L.test_send_response}));
      out.appendChild(el("pre", {"class": "test-send-response", text: "HTTP " + (result.http_status === null ? "—" : result.http_status) + "\n\n" + result.response_body}));
    }, function (error) {
      self.testSendButton.disabled = false;
      out.textContent = format(L.check_failed, {status: error.message});
    });
  };

  Editor.prototype.buildUrlHelper = function () {
    var self = this, L = this.labels, input = this.field("url");
    if (!input || !this.urls.fillUrl) { return; }
    var id = (input.id || "url") + "-helper";
    var toggle = el("button", {type: "button", "class": "button url-helper-toggle", "aria-expanded": "false",
      "aria-controls": id, text: L.url_helper_toggle});
    var pasted = el("textarea", {id: id + "-pasted", rows: "2", "class": "url-helper-pasted", spellcheck: "false"});
    var endpoint = el("input", {id: id + "-endpoint", type: "text", "class": "url-helper-endpoint",
      placeholder: "acme.Website", autocomplete: "off"});
    var device = el("input", {id: id + "-device", type: "checkbox", "class": "url-helper-device"});
    var apply = el("button", {type: "button", "class": "button url-helper-apply", text: L.url_helper_apply});
    var messages = el("div", {"class": "url-helper-messages", role: "status", "aria-live": "polite"});
    var panel = el("div", {"class": "url-helper", id: id, hidden: ""}, [
      el("label", {"for": id + "-pasted", text: L.url_helper_pasted}), pasted,
      el("label", {"for": id + "-endpoint", text: L.url_helper_endpoint}), endpoint,
      el("div", {"class": "url-helper-check"}, [device, el("label", {"for": id + "-device", text: L.url_helper_device})]),
      el("div", {"class": "editor-actions"}, [apply]),
      messages
    ]);
    input.insertAdjacentElement("afterend", toggle);
    (input.closest(".flex-container") || toggle).insertAdjacentElement("afterend", panel);
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      panel.hidden = !panel.hidden;
      toggle.setAttribute("aria-expanded", panel.hidden ? "false" : "true");
      if (!panel.hidden) { pasted.focus(); }
    });
    [pasted, endpoint].forEach(function (field) {
      field.addEventListener("keydown", function (event) {
        if (event.key === "Enter" && field.tagName === "INPUT") { event.preventDefault(); apply.click(); }
      });
    });
    apply.addEventListener("click", function (event) {
      event.preventDefault();
      messages.textContent = L.checking;
      self.post(self.urls.fillUrl, {
        operation: self.value("operation"), pasted: pasted.value, endpoint_id: endpoint.value,
        device_uuid: device.checked ? 1 : 0
      }).then(function (result) {
        messages.textContent = "";
        if (result.errors.length) {
          messages.className = "url-helper-messages bad";
          var list = el("ul");
          result.errors.forEach(function (message) { list.appendChild(el("li", {text: message})); });
          messages.appendChild(list);
          return;
        }
        input.value = result.url;
        input.dispatchEvent(new Event("input", {bubbles: true}));
        messages.className = "url-helper-messages ok";
        messages.textContent = [L.url_helper_done].concat(result.notes || []).join(". ");
        panel.hidden = true;
        toggle.setAttribute("aria-expanded", "false");
        // One note beside the button, however often the URL is pasted.
        var done = toggle.nextElementSibling;
        if (!done || !done.classList.contains("url-helper-done")) {
          done = el("span", {"class": "url-helper-done", role: "status"});
          toggle.insertAdjacentElement("afterend", done);
        }
        // Said, not done silently: what was put in place of a placeholder (deviceUUID's).
        done.textContent = [L.url_helper_done].concat(result.notes || []).join(". ");
        input.focus();
      }, function (error) {
        messages.textContent = format(L.check_failed, {status: error.message});
      });
    });
  };

  /* The filter conditions as rows; the JSON field is their source of truth on Save. */
  function FilterBuilder(editor, textarea) {
    this.editor = editor;
    this.textarea = textarea;
    this.labels = editor.labels;
    this.fields = [];
    this.build();
    this.load();
  }

  FilterBuilder.prototype.build = function () {
    var self = this, L = this.labels, id = (this.textarea.id || "filters") + "-builder";
    this.match = el("select", {id: id + "-match", "class": "filter-match"}, [
      el("option", {value: "all", text: L.match_all}), el("option", {value: "any", text: L.match_any})
    ]);
    this.matchRow = el("div", {"class": "filter-match-row"}, [
      el("label", {"for": id + "-match", text: L.filters_match}), this.match
    ]);
    this.rows = el("div", {"class": "filter-rows"});
    this.empty = el("p", {"class": "help filter-empty", text: L.no_conditions});
    this.raw = el("p", {"class": "errornote filter-raw", text: L.filters_raw, hidden: ""});
    this.add = el("button", {type: "button", "class": "button add-condition", text: L.add_condition});
    this.toggle = el("button", {type: "button", "class": "button toggle-json", "aria-expanded": "false",
      "aria-controls": this.textarea.id, text: L.show_json});
    this.container = el("div", {"class": "filter-builder", id: id}, [
      this.raw, this.matchRow, this.rows, this.empty,
      el("div", {"class": "editor-actions"}, [this.add, this.toggle])
    ]);
    this.textarea.insertAdjacentElement("beforebegin", this.container);
    this.add.addEventListener("click", function (event) {
      event.preventDefault();
      var row = self.addRow({field: "", mode: "include", values: []});
      self.sync();
      row.querySelector("select").focus();
    });
    this.match.addEventListener("change", function () { self.sync(); });
    this.toggle.addEventListener("click", function (event) {
      event.preventDefault();
      self.showJson(self.textarea.hidden);
    });
  };

  FilterBuilder.prototype.showJson = function (show) {
    this.textarea.hidden = !show;
    this.toggle.textContent = show ? this.labels.hide_json : this.labels.show_json;
    this.toggle.setAttribute("aria-expanded", show ? "true" : "false");
    if (!show) { this.load(); }  // what was typed in the JSON comes back as rows
  };

  FilterBuilder.prototype.parse = function () {
    var text = this.textarea.value.trim();
    if (!text) { return {match: "all", conditions: []}; }
    var data;
    try { data = JSON.parse(text); } catch (error) { return null; }
    if (!data || typeof data !== "object" || Array.isArray(data)) { return null; }
    var keys = Object.keys(data).filter(function (key) { return key !== "match" && key !== "conditions"; });
    var conditions = data.conditions === undefined ? [] : data.conditions;
    if (keys.length || !Array.isArray(conditions)) { return null; }
    var representable = conditions.every(function (row) {
      return row && typeof row === "object" && typeof row.field === "string" && Array.isArray(row.values) &&
        (row.mode === "include" || row.mode === "exclude") &&
        row.values.every(function (v) { return typeof v === "string" || typeof v === "number"; });
    });
    return representable ? {match: data.match === "any" ? "any" : "all", conditions: conditions} : null;
  };

  FilterBuilder.prototype.load = function () {
    var data = this.parse();
    this.rows.textContent = "";
    if (data === null) {
      this.raw.hidden = false;
      this.showJsonOnly(true);
      return;
    }
    this.showJsonOnly(false);
    this.raw.hidden = true;
    this.match.value = data.match;
    var self = this;
    data.conditions.forEach(function (row) { self.addRow(row); });
    this.refresh();
  };

  FilterBuilder.prototype.showJsonOnly = function (only) {
    this.textarea.hidden = !only;
    [this.matchRow, this.rows, this.empty, this.add].forEach(function (node) { node.hidden = only; });
    this.toggle.hidden = only;
  };

  FilterBuilder.prototype.fieldOptions = function (select, current) {
    var L = this.labels;
    select.textContent = "";
    select.appendChild(el("option", {value: "", text: "—"}));
    var known = false;
    this.fields.forEach(function (m) {
      select.appendChild(el("option", {value: m.name, text: m.name + " — " + m.meaning}));
      if (m.name === current) { known = true; }
    });
    if (current && !known) {
      select.appendChild(el("option", {value: current, text: format(L.unknown_field, {name: current})}));
    }
    select.value = current || "";
  };

  FilterBuilder.prototype.setFields = function (mnemonics, known) {
    var self = this;
    this.fields = mnemonics;
    this.known = known || {};
    Array.prototype.forEach.call(this.rows.querySelectorAll("select.condition-field"), function (select) {
      self.fieldOptions(select, select.value);
    });
    Array.prototype.forEach.call(this.rows.children, function (line) { self.showChoices(line); });
  };

  /* A field of known values offers them in UIS's words (Входящий, Потерянный) as checkboxes and
     stores their codes (in, lost); a value typed that is not one of them stays, and is warned
     about by the check. Other fields keep the free text. */
  FilterBuilder.prototype.showChoices = function (line) {
    var self = this, L = this.labels;
    var field = line.querySelector(".condition-field").value, input = line.querySelector(".condition-values");
    var box = line.querySelector(".condition-choices"), known = (this.known || {})[field];
    if (box) { box.remove(); }
    input.hidden = !!known;
    if (!known) { return; }
    var current = input.value.split(",").map(function (v) { return v.trim(); }).filter(Boolean);
    var lower = current.map(function (v) { return v.toLowerCase(); });
    box = el("fieldset", {"class": "condition-choices"}, [el("legend", {text: L.values_known})]);
    known.choices.forEach(function (choice) {
      var id = (self.textarea.id || "filters") + "-" + Array.prototype.indexOf.call(self.rows.children, line) +
        "-" + choice.code;
      var box_ = el("input", {type: "checkbox", id: id, value: choice.code});
      box_.checked = lower.indexOf(choice.code.toLowerCase()) !== -1;
      box_.addEventListener("change", function () {
        var chosen = Array.prototype.filter.call(box.querySelectorAll("input[type=checkbox]"), function (c) {
          return c.checked;
        }).map(function (c) { return c.value; });
        // Typed values that are no choice are kept, so the check can name them.
        var codes = known.choices.map(function (c) { return c.code.toLowerCase(); });
        var others = input.value.split(",").map(function (v) { return v.trim(); })
          .filter(function (v) { return v && codes.indexOf(v.toLowerCase()) === -1; });
        input.value = chosen.concat(others).join(", ");
        self.sync();
      });
      box.appendChild(el("span", {"class": "condition-choice"}, [
        box_, el("label", {"for": id, text: choice.label + " (" + choice.code + ")"})
      ]));
    });
    if (known.note) { box.appendChild(el("p", {"class": "help", text: known.note})); }
    input.insertAdjacentElement("afterend", box);
  };

  FilterBuilder.prototype.addRow = function (row) {
    var self = this, L = this.labels;
    var number = this.rows.children.length + 1;
    var field = el("select", {"class": "condition-field", "aria-label": L.field});
    this.fieldOptions(field, row.field);
    var mode = el("select", {"class": "condition-mode", "aria-label": L.mode}, [
      el("option", {value: "include", text: L.include}), el("option", {value: "exclude", text: L.exclude})
    ]);
    mode.value = row.mode === "exclude" ? "exclude" : "include";
    var values = el("input", {type: "text", "class": "condition-values", "aria-label": L.values,
      placeholder: L.values});
    values.value = (row.values || []).join(", ");
    var remove = el("button", {type: "button", "class": "button remove-condition", text: "×",
      "aria-label": format(L.remove_condition, {number: number})});
    var line = el("div", {"class": "filter-row"}, [field, mode, values, remove]);
    mode.addEventListener("change", function () { self.sync(); });
    field.addEventListener("change", function () {
      values.value = "";  // another field's values mean nothing here
      self.showChoices(line);
      self.sync();
    });
    values.addEventListener("input", function () { self.sync(); });
    values.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
    remove.addEventListener("click", function (event) {
      event.preventDefault();
      line.remove();
      self.sync();
      self.add.focus();
    });
    this.rows.appendChild(line);
    this.showChoices(line);
    this.refresh();
    return line;
  };

  FilterBuilder.prototype.refresh = function () {
    var count = this.rows.children.length, L = this.labels;
    this.empty.hidden = count > 0;
    this.matchRow.hidden = count < 2;
    Array.prototype.forEach.call(this.rows.children, function (line, index) {
      line.querySelector(".remove-condition").setAttribute("aria-label", format(L.remove_condition, {number: index + 1}));
    });
  };

  FilterBuilder.prototype.sync = function () {
    var conditions = Array.prototype.map.call(this.rows.children, function (line) {
      return {
        field: line.querySelector(".condition-field").value,
        mode: line.querySelector(".condition-mode").value,
        values: line.querySelector(".condition-values").value.split(",")
          .map(function (v) { return v.trim(); }).filter(Boolean)
      };
    });
    this.textarea.value = conditions.length ? JSON.stringify({match: this.match.value, conditions: conditions}) : "";
    this.textarea.dispatchEvent(new Event("input", {bubbles: true}));
    this.refresh();
  };

  function setUp(root) {
    var areas = (root || document).querySelectorAll('textarea[data-editor="body"]');
    Array.prototype.forEach.call(areas, function (textarea) {
      if (textarea.name.indexOf("__prefix__") !== -1 || textarea.dataset.editorReady) { return; }
      textarea.dataset.editorReady = "yes";
      textarea._editor = new Editor(textarea);
    });
  }

  document.addEventListener("DOMContentLoaded", function () { setUp(document); });
  // Django's inlines announce a row added with "Add another".
  document.addEventListener("formset:added", function (event) { setUp(event.target); });
})();

/* The notification editor: under each notification body (textarea[data-editor="body"]), on a
   notification's own page and in the inlines of its operation's page:
   - the check of the draft as it is typed (the server's validation: JSON errors with line and
     column, unknown mnemonics named, URL and filter problems);
   - the mnemonic palette of the chosen communication type (a click inserts at the cursor);
   - a preview of the rendered URL and body, from sample values or a recent real event.
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

  function Editor(textarea) {
    this.body = textarea;
    this.form = textarea.form;
    this.prefix = textarea.name.slice(0, textarea.name.length - "body".length);
    this.labels = JSON.parse(textarea.dataset.labels || "{}");
    this.urls = {
      palette: textarea.dataset.paletteUrl,
      check: textarea.dataset.checkUrl,
      preview: textarea.dataset.previewUrl
    };
    this.sequence = 0;
    this.timer = null;
    this.paletteType = null;
    this.build();
    this.bind();
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
    this.search = el("input", {type: "search", "class": "palette-search", placeholder: L.palette_filter,
      "aria-label": L.palette_filter});
    this.list = el("ul", {"class": "palette-list", "aria-labelledby": id + "-palette-title"});
    this.palette = el("div", {"class": "mnemonic-palette"}, [
      el("div", {"class": "palette-head"}, [this.paletteTitle, this.search]),
      this.list
    ]);
    this.source = el("select", {"class": "preview-source", id: id + "-source"});
    this.previewButton = el("button", {type: "button", "class": "button preview-button", text: L.preview_button});
    this.previewOut = el("div", {"class": "editor-preview", "aria-live": "polite"});
    this.container = el("div", {"class": "notification-editor"}, [
      this.status,
      this.palette,
      el("div", {"class": "editor-actions"}, [
        el("label", {"for": id + "-source", text: L.preview_values}), this.source, this.previewButton
      ]),
      this.previewOut
    ]);
    this.body.setAttribute("aria-describedby", id + "-check");
    this.body.insertAdjacentElement("afterend", this.container);
  };

  Editor.prototype.bind = function () {
    var self = this;
    ["body", "url", "filters"].forEach(function (name) {
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
    this.list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-mnemonic]");
      if (button) { event.preventDefault(); self.insert(button.dataset.mnemonic); }
    });
    this.search.addEventListener("input", function () { self.filterPalette(); });
    this.search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }  // not the page's Save
    });
    this.previewButton.addEventListener("click", function (event) { event.preventDefault(); self.preview(); });
  };

  Editor.prototype.insert = function (name) {
    var text = "{{" + name + "}}";
    var start = this.body.selectionStart, end = this.body.selectionEnd;
    this.body.focus();
    this.body.setRangeText(text, start, end, "end");
    this.body.dispatchEvent(new Event("input", {bubbles: true}));
  };

  Editor.prototype.draft = function () {
    return {
      operation: this.value("operation"),
      communication_type: this.value("communication_type"),
      url: this.value("url"),
      body: this.value("body"),
      filters: this.value("filters"),
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
    var L = this.labels;
    this.status.textContent = "";
    this.status.dataset.ok = result.ok ? "yes" : "no";
    if (result.ok) {
      this.status.className = "editor-check ok";
      this.status.textContent = L.check_ok;
      return;
    }
    this.status.className = "editor-check bad";
    var list = el("ul");
    Object.keys(result.errors).forEach(function (field) {
      result.errors[field].forEach(function (message) {
        list.appendChild(el("li", {"data-field": field, text: message}));
      });
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
      var button = el("button", {type: "button", "data-mnemonic": m.name,
        "aria-label": format(L.insert, {name: m.name, meaning: m.meaning}), text: "{{" + m.name + "}}"});
      var item = el("li", {"data-name": m.name, "class": m.seen ? "seen" : ""}, [
        button, el("span", {"class": "meaning", text: m.meaning})
      ]);
      list.appendChild(item);
    });
    this.filterPalette();
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
      out.appendChild(el("p", {}, [el("strong", {text: L.preview_body})]));
      out.appendChild(el("pre", {"class": "preview-body", text: result.body}));
      out.appendChild(el("p", {"class": "help", text: L.preview_note}));
    }, function (error) {
      out.textContent = format(L.check_failed, {status: error.message});
    });
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

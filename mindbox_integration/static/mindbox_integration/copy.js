/* Copy buttons: <button type="button" data-copy="#id" data-copied="…" data-copy-failed="…">
   copies the text of the element #id and says so next to the button (.copy-feedback). */
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var area = document.createElement("textarea");
      area.value = text;
      area.setAttribute("readonly", "");
      area.style.position = "fixed";
      area.style.opacity = "0";
      document.body.appendChild(area);
      area.select();
      try {
        if (document.execCommand("copy")) { resolve(); } else { reject(new Error("copy refused")); }
      } catch (error) {
        reject(error);
      } finally {
        area.remove();
      }
    });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) { return; }
    event.preventDefault();
    var source = document.querySelector(button.dataset.copy);
    var feedback = button.parentElement.querySelector(".copy-feedback");
    if (!source) { return; }
    copyText(source.textContent.trim()).then(function () {
      if (feedback) { feedback.classList.remove("failed"); feedback.textContent = button.dataset.copied; }
    }, function () {
      if (feedback) { feedback.classList.add("failed"); feedback.textContent = button.dataset.copyFailed; }
    });
    if (feedback) {
      clearTimeout(button._copyTimer);
      button._copyTimer = setTimeout(function () { feedback.textContent = ""; }, 5000);
    }
  });
})();

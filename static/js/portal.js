// Small progressive enhancements; every page works without them.
(function () {
  // Pages hold personal data: none is kept in the browser's storage (htmx is told to keep no
  // history copies; this removes any an older page version left behind).
  try { sessionStorage.removeItem("htmx-history-cache"); } catch (e) { /* storage disabled */ }
  // Close the customer switcher when clicking elsewhere.
  document.addEventListener("click", function (event) {
    document.querySelectorAll("details.switcher[open]").forEach(function (d) {
      if (!d.contains(event.target)) d.removeAttribute("open");
    });
  });
  // Focus the search box when the switcher opens.
  document.addEventListener("toggle", function (event) {
    var d = event.target;
    if (d.matches && d.matches("details.switcher") && d.open) {
      var input = d.querySelector("input[type=search]");
      if (input) input.focus();
    }
  }, true);
  // Buttons and links with data-confirm ask before a destructive non-htmx action.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });
  // Copy buttons (data-copy="<input id>"): the value goes to the clipboard; the status says so.
  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("button[data-copy]");
    if (!button) return;
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!input) return;
    input.select();
    var done = function () { if (status) status.textContent = button.getAttribute("data-copied-text"); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
    } else {
      document.execCommand("copy");
      done();
    }
  });
  // htmx swaps only 2xx answers: an error answer, or none at all, is said in the flash area.
  function say(text) {
    var area = document.getElementById("flashes");
    if (!area || !text) return;
    var note = document.createElement("div");
    note.className = "flash flash-error";
    note.setAttribute("role", "alert");
    note.textContent = text;
    area.replaceChildren(note);
    note.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("htmx:responseError", function (event) {
    var area = document.getElementById("flashes");
    var xhr = event.detail.xhr;
    var page = new DOMParser().parseFromString(xhr.responseText || "", "text/html");
    var heading = page.querySelector("h1");
    var problem = heading ? heading.textContent.trim() : String(xhr.status);
    say(area && area.dataset.errorText.replace("{problem}", problem));
  });
  document.addEventListener("htmx:sendError", function () {
    var area = document.getElementById("flashes");
    say(area && area.dataset.offlineText);
  });
})();

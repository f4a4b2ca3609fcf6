// Small progressive enhancements; every page works without them.
(function () {
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
})();

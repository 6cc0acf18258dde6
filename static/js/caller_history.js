/* The desk's report form: while a complainant's phone is typed, the cases that number
   already brought (重复来电), asked half a second after the typing stops (desk/callers.py).
   The input event is heard on the form, so rows added with "Add another person" count too.
   Without this script the form works as ever, without the list. */
(function () {
  "use strict";
  var panel = document.getElementById("caller-history");
  var form = document.getElementById("report-form");
  if (!panel || !form || !window.htmx) return;
  var url = panel.getAttribute("data-caller-history");
  var PHONE = /^people-\d+-phone$/;
  var timer = null;
  var asked = "";

  function ask(value) {
    value = value.trim();
    if (value === asked) return;
    asked = value;
    if (!value) {
      panel.textContent = "";
      return;
    }
    window.htmx.ajax("GET", url, { target: panel, swap: "innerHTML", values: { phone: value } });
  }

  form.addEventListener("input", function (event) {
    var field = event.target;
    if (!field || !PHONE.test(field.name || "")) return;
    clearTimeout(timer);
    timer = setTimeout(function () {
      ask(field.value);
    }, 500);
  });

  // A form sent back with errors, or a restored draft: the first phone is already there.
  var first = form.querySelector("input[name='people-0-phone']");
  if (first && first.value) ask(first.value);
})();

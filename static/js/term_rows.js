/* "Add a term" on the agreement form: a new row from the formset's empty form, its
   __prefix__ replaced by the next index and the management form's count raised. Without
   JavaScript the button stays hidden and saving opens two more empty rows. */
(function () {
  "use strict";
  function start() {
    document.querySelectorAll("[data-term-add]").forEach(function (button) {
      var form = button.closest("form");
      var prefix = button.dataset.prefix;
      var total = form && form.querySelector("input[name='" + prefix + "-TOTAL_FORMS']");
      var max = form && form.querySelector("input[name='" + prefix + "-MAX_NUM_FORMS']");
      var template = form && form.querySelector("template[data-term-template]");
      var rows = form && form.querySelector("[data-term-rows]");
      if (!total || !template || !rows) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        var index = parseInt(total.value, 10) || 0;
        if (max && index >= parseInt(max.value, 10)) return;
        var html = template.innerHTML.replace(/__prefix__/g, String(index));
        rows.insertAdjacentHTML("beforeend", html);
        total.value = String(index + 1);
        var added = rows.lastElementChild;
        var first = added && added.querySelector("select, input, textarea");
        if (first) first.focus();
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

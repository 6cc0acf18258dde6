/* fengqiao — joining a case of the report page's nearby list (这就是我要反映的).
 *
 * The join form comes in place of its button (htmx, templates/duplicates/_join_form.html).
 * This fills it with the name and phone already typed in the report form, keeps Enter in
 * it from sending the report form around it, and, once the join is sent, discards the
 * report's draft when asked.
 */
(function () {
  "use strict";

  var form = document.getElementById("report-form");
  if (!form) return;

  function value(ids) {
    for (var i = 0; i < ids.length; i++) {
      var el = document.getElementById(ids[i]);
      if (el && el.value) return el.value;
    }
    return "";
  }

  // A resident's own name and phone, or the first person a grid worker named.
  function prefill(box) {
    var name = box.querySelector('input[name="join_name"]');
    var phone = box.querySelector('input[name="join_phone"]');
    if (name && !name.value) name.value = value(["id_name", "id_people-0-name"]);
    if (phone && !phone.value) phone.value = value(["id_phone", "id_people-0-phone"]);
    var first = name && !name.value ? name : phone;
    if (first) first.focus();
  }

  document.body.addEventListener("htmx:afterSwap", function (event) {
    var box = event.detail.target;
    if (!box || !box.querySelector) return;
    var joinForm = box.querySelector("[data-join-form]");
    if (joinForm && !joinForm.querySelector(".field--error")) prefill(joinForm);
  });

  // Enter in a join field sends the join, not the report.
  form.addEventListener("keydown", function (event) {
    if (event.key !== "Enter") return;
    var box = event.target.closest && event.target.closest("[data-join-form]");
    if (!box) return;
    event.preventDefault();
    var send = box.querySelector("[data-join-send]");
    if (send) send.click();
  });

  // The join is in: the report typed so far is not needed. Empty the form (so that the
  // draft saved as the page goes is empty too), forget the draft and start afresh.
  document.body.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-join-discard]");
    if (!button) return;
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.name === "csrfmiddlewaretoken") return;
      if (el.type === "checkbox" || el.type === "radio") el.checked = false;
      else if (el.tagName !== "SELECT" && el.type !== "file" && el.type !== "submit") el.value = "";
    });
    try {
      window.localStorage.removeItem(form.getAttribute("data-draft-key"));
    } catch (e) {
      /* no storage: no draft to discard */
    }
    window.location.assign(window.location.pathname);
  });
})();

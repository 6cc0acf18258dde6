/* The desk's report form: the ticket number of another system is asked for only with the
   sources that carry one (12345, the mayor's mailbox, the petition office). A hidden field is
   disabled, so that a number typed before the source changed is not sent with it. Without
   this script the field stays, and the server refuses a number with any other source. */
(function () {
  "use strict";
  var ticket = document.querySelector("[data-ticket-sources]");
  var source = document.getElementById("id_source");
  if (!ticket || !source) return;
  var wrap = document.getElementById("field-" + ticket.name) || ticket.parentNode;
  var sources = ticket.getAttribute("data-ticket-sources").split(" ");

  function update() {
    var shown = sources.indexOf(source.value) !== -1 || ticket.value !== "" && wrap.classList.contains("field--error");
    wrap.hidden = !shown;
    ticket.disabled = !shown;
  }

  source.addEventListener("change", update);
  update();
})();

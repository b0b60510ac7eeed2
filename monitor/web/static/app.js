// Keyboard shortcuts for lists (inbox, alerts): j/k move, Enter opens, a assigns/acks, e resolves,
// "/" focuses search. Everything also works with the mouse and without JavaScript.
(function () {
  "use strict";
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr.item")); }
  function current() { return document.querySelector("tr.item.current"); }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("current"); r.removeAttribute("aria-selected"); });
    if (!row) { return; }
    row.classList.add("current");
    row.setAttribute("aria-selected", "true");
    row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: false });
  }
  function move(step) {
    var list = rows();
    if (!list.length) { return; }
    var at = list.indexOf(current());
    var next = at < 0 ? 0 : Math.min(list.length - 1, Math.max(0, at + step));
    select(list[next]);
  }
  function press(key) {
    var row = current();
    if (!row && rows().length) { return; }  // in a list, act only on the chosen row
    var scope = row || document;
    var button = scope.querySelector('button[data-key="' + key + '"]');
    if (button) { button.click(); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) { return; }
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "Enter":
        if (current() && tag === "TR") { window.location.href = current().getAttribute("data-href") || "#"; } else { return; }
        break;
      case "a": press("a"); break;
      case "e": press("e"); break;
      case "/":
        var search = document.querySelector('[data-shortcut="/"]');
        if (!search) { return; }
        search.focus();
        break;
      default: return;
    }
    event.preventDefault();
  });
})();

// idsync console behaviour that htmx does not cover. The CSP allows no
// inline script or event handler, so everything is wired here, by data
// attributes, through listeners on the document (they keep working after
// htmx swaps the markup).
"use strict";

// <input type="checkbox" data-select-all="user_id"> checks or unchecks
// every checkbox named user_id in the same table (or form).
document.addEventListener("change", (ev) => {
  const box = ev.target;
  if (!(box instanceof HTMLInputElement)) {
    return;
  }
  const scope = box.closest("table") || box.form || document;
  if (box.dataset.selectAll) {
    for (const b of scope.querySelectorAll('input[type="checkbox"]')) {
      if (b.name === box.dataset.selectAll) {
        b.checked = box.checked;
      }
    }
    box.indeterminate = false;
    return;
  }
  // One box changed: the "select all" box shows all, none or some.
  const all = scope.querySelector("input[data-select-all]");
  if (!all || all.dataset.selectAll !== box.name) {
    return;
  }
  const boxes = [...scope.querySelectorAll('input[type="checkbox"]')].filter((b) => b.name === box.name);
  const checked = boxes.filter((b) => b.checked).length;
  all.checked = checked === boxes.length && checked > 0;
  all.indeterminate = checked > 0 && checked < boxes.length;
});

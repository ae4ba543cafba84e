/**
 * The report's only script, inlined into the page: filters the events table as you type (and from
 * "#filter=TEXT" in the address, so a link can carry a filter) and sorts it by a clicked column.
 * Static text: no event data passes through it, so nothing in it needs escaping.
 */
export const PAGE_SCRIPT = `
(function () {
  var input = document.getElementById('table-filter');
  var body = document.getElementById('events-body');
  var shown = document.getElementById('rows-shown');
  if (!input || !body || !shown) return;
  var rows = Array.prototype.slice.call(body.rows);
  function apply() {
    var q = input.value.trim().toLowerCase();
    var n = 0;
    rows.forEach(function (tr) {
      var hit = q === '' || tr.textContent.toLowerCase().indexOf(q) !== -1;
      tr.hidden = !hit;
      if (hit) n++;
    });
    shown.textContent = n.toLocaleString('en-US');
    shown.setAttribute('data-value', String(n));
  }
  input.addEventListener('input', apply);
  var m = /^#filter=(.*)$/.exec(location.hash);
  if (m) input.value = decodeURIComponent(m[1]);
  apply();
  var headers = document.querySelectorAll('#events-table th');
  Array.prototype.forEach.call(headers, function (th, col) {
    th.addEventListener('click', function () {
      var desc = th.getAttribute('aria-sort') === 'ascending';
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', desc ? 'descending' : 'ascending');
      rows.sort(function (a, b) {
        var x = a.cells[col].textContent, y = b.cells[col].textContent;
        return (x < y ? -1 : x > y ? 1 : 0) * (desc ? -1 : 1);
      });
      rows.forEach(function (tr) { body.appendChild(tr); });
    });
  });
})();
`;

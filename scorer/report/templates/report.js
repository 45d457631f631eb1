// Sorting and filtering for the package table. Everything is read from the table the server
// rendered (cell text and data-* attributes) and only attributes, `hidden` and textContent are
// written back: no markup is ever built from data, so hostile names stay text.
(function () {
  "use strict";
  var table = document.getElementById("packages");
  if (!table) {
    return;
  }
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var search = document.getElementById("filter-text");
  var level = document.getElementById("filter-level");
  var malicious = document.getElementById("filter-malicious");
  var status = document.getElementById("filter-status");

  function sortValue(row, col, numeric) {
    var cell = row.cells[col];
    var raw = cell.getAttribute("data-sort");
    if (raw === null) {
      raw = cell.textContent;
    }
    if (numeric) {
      return raw === "" ? null : Number(raw);
    }
    return raw.toLowerCase();
  }

  function sortBy(col, direction) {
    var numeric = headers[col].getAttribute("data-type") === "num";
    var sign = direction === "ascending" ? 1 : -1;
    // Sorting the rows in their original (rank) order keeps ties in rank order: the sort is stable.
    var sorted = rows.slice().sort(function (a, b) {
      var x = sortValue(a, col, numeric);
      var y = sortValue(b, col, numeric);
      if (x === y) {
        return 0;
      }
      // Unknown values stay at the bottom whichever way the column is sorted.
      if (x === null) {
        return 1;
      }
      if (y === null) {
        return -1;
      }
      return x < y ? -sign : sign;
    });
    headers.forEach(function (th, i) {
      th.setAttribute("aria-sort", i === col ? direction : "none");
    });
    sorted.forEach(function (row) {
      tbody.appendChild(row);
    });
  }

  headers.forEach(function (th, col) {
    var button = th.querySelector("button");
    if (!button) {
      return;
    }
    button.addEventListener("click", function () {
      var next = th.getAttribute("aria-sort") === "ascending" ? "descending" : "ascending";
      sortBy(col, next);
    });
  });

  function applyFilters() {
    var needle = search.value.trim().toLowerCase();
    var wanted = level.value;
    var onlyMalicious = malicious.checked;
    var shown = 0;
    rows.forEach(function (row) {
      var visible =
        (needle === "" || row.getAttribute("data-search").toLowerCase().indexOf(needle) !== -1) &&
        (wanted === "all" || row.getAttribute("data-level") === wanted) &&
        (!onlyMalicious || row.getAttribute("data-malicious") === "1");
      row.hidden = !visible;
      if (visible) {
        shown += 1;
      }
    });
    status.textContent = shown + " of " + rows.length + " packages shown";
  }

  search.addEventListener("input", applyFilters);
  level.addEventListener("change", applyFilters);
  malicious.addEventListener("change", applyFilters);
  applyFilters();
})();

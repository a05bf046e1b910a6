// The home page's facets, view switch and sortable table. Everything it needs is in the page
// (data-* attributes on each card and row), so it works offline and from any path. Without
// JavaScript both lists are complete and the table is in name order.
(function () {
  "use strict";

  var VIEW_KEY = "catalog-view";

  function valuesOf(item, facet) {
    var raw = item.getAttribute("data-" + facet) || "";
    return raw ? raw.split("|") : [];
  }

  function storedView() {
    try {
      return window.localStorage.getItem(VIEW_KEY);
    } catch (err) {
      return null; // storage disabled: the choice lasts for this page only
    }
  }

  function storeView(view) {
    try {
      window.localStorage.setItem(VIEW_KEY, view);
    } catch (err) {
      /* storage disabled */
    }
  }

  function setup(browser) {
    var items = Array.prototype.slice.call(browser.querySelectorAll("[data-item]"));
    var boxes = Array.prototype.slice.call(browser.querySelectorAll(".catalog-facets input[type=checkbox]"));
    var shown = browser.querySelector("[data-shown]");
    var empty = browser.querySelector("[data-empty]");
    var cards = browser.querySelectorAll(".catalog-card[data-item]").length;

    function selected() {
      var chosen = {};
      boxes.forEach(function (box) {
        if (box.checked) {
          (chosen[box.name] = chosen[box.name] || []).push(box.value);
        }
      });
      return chosen;
    }

    // Within a facet any chosen value matches; across facets every facet must match.
    function matches(item, chosen) {
      return Object.keys(chosen).every(function (facet) {
        var values = valuesOf(item, facet);
        return chosen[facet].some(function (value) {
          return values.indexOf(value) !== -1;
        });
      });
    }

    function apply() {
      var chosen = selected();
      var count = 0;
      items.forEach(function (item) {
        var visible = matches(item, chosen);
        item.hidden = !visible;
        if (visible && item.classList.contains("catalog-card")) {
          count += 1;
        }
      });
      var noun = cards === 1 ? " filter" : " filters";
      shown.textContent = count === cards ? cards + noun : count + " of " + cards + noun;
      empty.hidden = count !== 0;
    }

    function showView(view) {
      browser.querySelectorAll("[data-view]").forEach(function (element) {
        element.hidden = element.getAttribute("data-view") !== view;
      });
      browser.querySelectorAll("[data-view-button]").forEach(function (button) {
        button.setAttribute("aria-pressed", String(button.getAttribute("data-view-button") === view));
      });
    }

    function sortBy(button) {
      var key = button.getAttribute("data-sort");
      var numeric = button.hasAttribute("data-numeric");
      var order = button.getAttribute("data-order") === "asc" ? "desc" : "asc";
      browser.querySelectorAll("th button[data-sort]").forEach(function (other) {
        other.removeAttribute("data-order");
      });
      button.setAttribute("data-order", order);
      var body = browser.querySelector(".catalog-table tbody");
      var rows = Array.prototype.slice.call(body.querySelectorAll("tr[data-item]"));
      rows.sort(function (a, b) {
        var x = a.getAttribute("data-" + key) || "";
        var y = b.getAttribute("data-" + key) || "";
        // Numeric columns: an empty cell (nothing measured) sorts after every number.
        var result = numeric
          ? (x === "" ? Infinity : Number(x)) - (y === "" ? Infinity : Number(y)) || 0
          : x.localeCompare(y, undefined, { numeric: true, sensitivity: "base" });
        if (result === 0) {
          result = a.getAttribute("data-name").localeCompare(b.getAttribute("data-name"));
        }
        return order === "asc" ? result : -result;
      });
      rows.forEach(function (row) {
        body.appendChild(row);
      });
    }

    boxes.forEach(function (box) {
      box.addEventListener("change", apply);
    });
    browser.querySelector("[data-clear-facets]").addEventListener("click", function () {
      boxes.forEach(function (box) {
        box.checked = false;
      });
      apply();
    });
    browser.querySelectorAll("[data-view-button]").forEach(function (button) {
      button.addEventListener("click", function () {
        var view = button.getAttribute("data-view-button");
        storeView(view);
        showView(view);
      });
    });
    browser.querySelectorAll("th button[data-sort]").forEach(function (button) {
      button.addEventListener("click", function () {
        sortBy(button);
      });
    });

    showView(storedView() === "table" ? "table" : "grid");
    apply(); // the browser may have restored checked boxes on "back"
  }

  function init() {
    document.querySelectorAll("[data-catalog-browser]").forEach(setup);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

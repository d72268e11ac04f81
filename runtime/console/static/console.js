// Live updates for the development console. The pages work without this
// script; it listens to the server's reloads and, when the workspace
// changed (a new generation, or a broken save: a new load with new
// diagnostics), refetches the page and swaps in each region marked data-live
// (forms, and what a run showed, stay as they are).
(function () {
  "use strict";
  var body = document.body;
  var url = body.getAttribute("data-events");
  if (!url || !window.EventSource || !window.fetch || !window.DOMParser) {
    return;
  }
  var shown = body.getAttribute("data-load");
  var latest = 0; // the last refresh asked for; older answers are dropped

  function refresh(load) {
    var ask = ++latest;
    fetch(location.pathname + location.search, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (ask !== latest) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll("[data-live][id]").forEach(function (el) {
          var next = fresh.getElementById(el.id);
          if (next && next.innerHTML !== el.innerHTML) {
            el.replaceChildren.apply(el, Array.prototype.map.call(next.childNodes, function (n) {
              return document.importNode(n, true);
            }));
          }
        });
        shown = load;
        body.setAttribute("data-load", load);
      })
      .catch(function () { /* the next event tries again */ });
  }

  // Regions marked data-refresh="<seconds>" show state that changes
  // without a reload (subscriptions as polls run, detected changes): they
  // are refetched that often while the page is visible.
  var every = 0;
  document.querySelectorAll("[data-live][data-refresh]").forEach(function (el) {
    var n = parseInt(el.getAttribute("data-refresh"), 10);
    if (n > 0 && (every === 0 || n < every)) {
      every = n;
    }
  });
  if (every > 0) {
    setInterval(function () {
      if (!document.hidden) {
        refresh(shown);
      }
    }, every * 1000);
  }

  var source = new EventSource(url);
  source.addEventListener("status", function (e) {
    var s;
    try {
      s = JSON.parse(e.data);
    } catch (err) {
      return;
    }
    if (s.load !== shown) {
      refresh(s.load);
    }
  });
})();

// The last page of a connect popup opened by embed.js: posts how it went
// to the page that opened it, and only to the origin the server checked
// (the browser drops the message if the opener is anywhere else). The
// opener closes this window once it has the message.
(function () {
  "use strict";
  var el = document.getElementById("membrane-connect-result");
  if (!el || !window.opener) {
    return;
  }
  var origin = el.getAttribute("data-origin");
  var message = JSON.parse(el.getAttribute("data-message"));
  window.opener.postMessage(message, origin);
  el.setAttribute("data-posted", "");
})();

// Membrane's connect button. Load it from your Membrane server and call
// Membrane.connect from a click:
//
//   <script src="https://integrations.example.com/connect/embed.js"></script>
//   button.onclick = () =>
//     Membrane.connect({ token: () => fetchTokenFromYourBackend(), connector: "hubspot" })
//       .then((connection) => …)      // { id, connector }
//       .catch((err) => …);           // err.code: "closed", "access_denied", "popup_blocked", …
//
// It opens the connect page in a popup for a tenant token and a connector
// and resolves with the connection once the user has connected, or
// rejects with a MembraneConnectError. Your page's origin must be in the
// workspace's connect.returnOrigins. Messages are taken only from the
// Membrane server this script came from, and only from the popup it
// opened.
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || !script.src) {
    return;
  }
  // The connect page: where this script is, without /embed.js.
  var page = script.src.replace(/\/embed\.js([?#].*)?$/, "");
  var membraneOrigin = new URL(page).origin;
  var messageType = "membrane.connect";

  function ConnectError(code, message) {
    var err = new Error(message);
    err.name = "MembraneConnectError";
    err.code = code;
    return err;
  }

  function connect(options) {
    options = options || {};
    var token = options.token;
    var connector = options.connector;
    if (typeof connector !== "string" || connector === "") {
      return Promise.reject(ConnectError("invalid_request", "Membrane.connect: give connector, the key of a connector of the workspace"));
    }
    if (typeof token !== "string" && typeof token !== "function") {
      return Promise.reject(ConnectError("invalid_request", "Membrane.connect: give token, a tenant token or a function that returns one (or a Promise of one)"));
    }
    // Opened now, in the click, so the browser allows it; the token may
    // come later.
    var width = 520, height = 720;
    var left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || width) - width) / 2);
    var top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || height) - height) / 2);
    var popup = window.open("", "_blank", "popup,width=" + width + ",height=" + height + ",left=" + left + ",top=" + top);
    if (!popup) {
      return Promise.reject(ConnectError("popup_blocked", "The browser blocked the connect window: call Membrane.connect from a click handler."));
    }
    return new Promise(function (resolve, reject) {
      var done = false;
      var watch;

      function finish(err, connection) {
        if (done) {
          return;
        }
        done = true;
        window.removeEventListener("message", onMessage);
        clearInterval(watch);
        if (!popup.closed) {
          popup.close();
        }
        if (err) {
          reject(err);
        } else {
          resolve(connection);
        }
      }

      function onMessage(event) {
        // Only the Membrane server this script came from, and only the
        // popup this call opened.
        if (event.origin !== membraneOrigin || event.source !== popup) {
          return;
        }
        var data = event.data;
        if (!data || data.type !== messageType) {
          return;
        }
        if (data.connection && typeof data.connection.id === "string") {
          finish(null, { id: data.connection.id, connector: data.connection.connector });
        } else {
          var e = data.error || {};
          finish(ConnectError(String(e.code || "server_error"), String(e.description || "Connecting failed.")));
        }
      }

      window.addEventListener("message", onMessage);
      // A closed window sends nothing: look whether it is still there.
      watch = setInterval(function () {
        if (popup.closed) {
          finish(ConnectError("closed", "The connect window was closed before an account was connected."));
        }
      }, 300);

      Promise.resolve(typeof token === "function" ? token() : token).then(function (t) {
        if (done) {
          return;
        }
        if (typeof t !== "string" || t === "") {
          finish(ConnectError("invalid_request", "Membrane.connect: the token function gave no token"));
          return;
        }
        var q = new URLSearchParams({ token: t, connector: connector, opener: window.location.origin });
        if (options.connectionId) {
          q.set("connectionId", options.connectionId);
        }
        popup.location.replace(page + "?" + q.toString());
      }, function (err) {
        finish(ConnectError("token_failed", "Membrane.connect: getting the token failed: " + (err && err.message ? err.message : String(err))));
      });
    });
  }

  window.Membrane = window.Membrane || {};
  window.Membrane.connect = connect;
})();

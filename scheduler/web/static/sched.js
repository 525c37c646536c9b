// sched's page: refresh the content every 5 s, and send actions with the token.
// The token lives in this tab's sessionStorage only; actions are POSTs with
// "Authorization: Bearer <token>", which no other site can send for you.
(function () {
  "use strict";
  var token = document.getElementById("token");
  var message = document.getElementById("message");
  if (token) {
    token.value = sessionStorage.getItem("sched-token") || "";
    token.addEventListener("change", function () {
      sessionStorage.setItem("sched-token", token.value);
    });
  }
  function say(text) { message.textContent = text; }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!(target instanceof HTMLButtonElement) || !target.dataset.url) { return; }
    var secret = token ? token.value : "";
    if (!secret) { say("enter the token first"); return; }
    target.disabled = true;
    fetch(target.dataset.url, {
      method: "POST",
      headers: { "Authorization": "Bearer " + secret },
      credentials: "omit"
    }).then(function (response) {
      return response.json().then(function (body) {
        say(response.ok ? target.dataset.action + ": done"
                        : target.dataset.action + " refused: " + body.error);
        refresh();
      });
    }).catch(function (error) {
      say(target.dataset.action + " failed: " + error);
    }).finally(function () { target.disabled = false; });
  });
  function refresh() {
    if (document.activeElement && document.activeElement.tagName === "INPUT") { return; }
    fetch(location.href, { credentials: "omit" }).then(function (response) {
      return response.text();
    }).then(function (text) {
      var page = new DOMParser().parseFromString(text, "text/html");
      var fresh = page.getElementById("content");
      if (fresh) { document.getElementById("content").replaceWith(fresh); }
    }).catch(function () { /* the next refresh tries again */ });
  }
  setInterval(refresh, 5000);
})();

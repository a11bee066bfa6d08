// Inside the embed: tell the page around it how tall the list is (embed-host.js listens).
(function () {
  "use strict";
  if (window.parent === window) return;
  var last = 0;
  function send() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "calendrier:height", height: height }, "*");
    }
  }
  // The host's script may start after this frame has loaded (it is async): it then asks.
  window.addEventListener("message", function (event) {
    if (event.source === window.parent && event.data && event.data.type === "calendrier:ask") {
      last = 0;
      send();
    }
  });
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);
  send();
})();

// On a partner's page: each iframe[data-calendrier-embed] takes the height its list asks for.
(function () {
  "use strict";
  var script = document.currentScript;
  var origin = script ? new URL(script.src).origin : null;
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || event.data.type !== "calendrier:height") return;
    var height = Number(event.data.height);
    if (!(height > 0 && height < 20000)) return;
    var frames = document.querySelectorAll("iframe[data-calendrier-embed]");
    for (var i = 0; i < frames.length; i++) {
      if (frames[i].contentWindow === event.source) frames[i].style.height = height + "px";
    }
  });
  // A frame that loaded before this script ran has already told its height: ask again.
  var frames = document.querySelectorAll("iframe[data-calendrier-embed]");
  for (var i = 0; i < frames.length; i++) {
    if (frames[i].contentWindow) frames[i].contentWindow.postMessage({ type: "calendrier:ask" }, origin || "*");
  }
})();

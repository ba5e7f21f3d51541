// Live sensor readings: refresh the table of latest values every few seconds, without a
// reload. Progressive enhancement: the page works without it. Values are set as text,
// never as HTML.
(function () {
  "use strict";
  var table = document.querySelector("table[data-live]");
  if (!table || !window.fetch) { return; }
  var url = table.getAttribute("data-live");
  var status = document.getElementById("live-status");
  var every = 5000;

  function show(stream) {
    var row = table.querySelector('tr[data-stream="' + String(stream.stream) + '"]');
    if (!row) { return; }
    var value = row.querySelector(".value");
    var time = row.querySelector(".time");
    var text = stream.value === null || stream.value === undefined ? "No reading yet"
      : (typeof stream.value === "object" ? JSON.stringify(stream.value) : String(stream.value));
    if (value.textContent !== text) {
      value.textContent = text;
      row.classList.add("changed");
      window.setTimeout(function () { row.classList.remove("changed"); }, 1500);
    }
    if (time && stream.time) { time.textContent = stream.time; time.setAttribute("datetime", stream.time); }
  }

  function refresh() {
    window.fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (latest) {
        latest.streams.forEach(show);
        if (status) { status.textContent = "Updated " + new Date().toLocaleTimeString(); }
      })
      .catch(function () {
        if (status) { status.textContent = "Live updates paused: the site did not answer."; }
      })
      .then(function () { window.setTimeout(refresh, every); });
  }
  window.setTimeout(refresh, every);
}());

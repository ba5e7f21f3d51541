// The publish form with a progress bar: the file goes up by XMLHttpRequest, whose upload
// reports its progress. Progressive enhancement: without JavaScript the form posts as is.
(function () {
  "use strict";
  var form = document.getElementById("publish");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var bar = document.getElementById("upload-progress");
  var status = document.getElementById("upload-status");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.upload.addEventListener("progress", function (progress) {
      if (!progress.lengthComputable) { return; }
      var percent = Math.round(100 * progress.loaded / progress.total);
      bar.hidden = false;
      bar.value = percent;
      bar.textContent = percent + "%";
      status.textContent = percent < 100 ? "Uploading: " + percent + "%" : "Reading the whole file…";
    });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL.indexOf("/publish/") !== -1) {
        window.location.assign(request.responseURL);  // the review page
        return;
      }
      var page = new DOMParser().parseFromString(request.responseText, "text/html");
      var main = page.querySelector("main");
      if (main) { document.querySelector("main").replaceWith(main); }
    });
    request.addEventListener("error", function () {
      status.textContent = "The upload failed: check your connection and try again.";
    });
    form.querySelector("button[type=submit]").disabled = true;
    request.send(new FormData(form));
  });
}());

// Progressive enhancement of the upload form: classify without a page reload, accept a dragged
// photo, and refuse an oversized file before uploading it. Without JavaScript the form posts to
// /classify and the server renders the same markup (the <template> elements in the page).
(function () {
  "use strict";

  var form = document.getElementById("upload-form");
  var region = document.getElementById("result");
  if (!form || !region || !window.fetch || !window.FormData || !("content" in document.createElement("template"))) {
    return;
  }
  var input = form.querySelector("input[type=file]");
  var dropZone = document.getElementById("drop-zone");
  var maxBytes = Number(form.getAttribute("data-max-bytes"));
  var maxSize = form.getAttribute("data-max-size"); // the server's wording, e.g. "10 MiB"
  var apiUrl = form.getAttribute("data-api");
  var previewUrl = null;

  var ERROR_HEADINGS = {
    400: "That file could not be read",
    413: "That file is too large",
    415: "That file type is not supported",
    422: "No photo was received",
    503: "The classifier is not ready",
  };

  function cloneTemplate(id) {
    return document.getElementById(id).content.firstElementChild.cloneNode(true);
  }

  function slot(element, name) {
    return element.querySelector('[data-slot="' + name + '"]');
  }

  function show(element) {
    region.replaceChildren(element);
  }

  function showBusy(file) {
    var paragraph = document.createElement("p");
    paragraph.className = "busy";
    paragraph.textContent = "Classifying " + file.name + "…";
    show(paragraph);
  }

  function showError(heading, message) {
    var box = cloneTemplate("error-template");
    slot(box, "heading").textContent = heading;
    slot(box, "message").textContent = message;
    show(box);
  }

  // 10649600 -> "10.2 MiB", 300000 -> "293 KiB": rounded up, so a file just over the limit
  // never reads as equal to it.
  function describeSize(bytes) {
    if (bytes >= 1048576) return (Math.ceil(bytes / 104857.6) / 10).toFixed(1) + " MiB";
    if (bytes >= 1024) return Math.ceil(bytes / 1024) + " KiB";
    return bytes + " bytes";
  }

  function percent(probability) {
    return Math.round(probability * 100) + "%";
  }

  function displayLabel(label) {
    if (label.indexOf("_") < 0) return label;
    var words = label.replace(/_/g, " ");
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function buildBar(label, probability, isAnswer) {
    var bar = cloneTemplate("bar-template");
    bar.classList.toggle("is-answer", isAnswer);
    slot(bar, "label").textContent = displayLabel(label);
    slot(bar, "fill").style.width = (probability * 100).toFixed(1) + "%";
    slot(bar, "value").textContent = percent(probability);
    return bar;
  }

  function showResult(answer, file) {
    var result = cloneTemplate("result-template");
    result.classList.add(answer.rejected ? "is-rejected" : "is-species");
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(file);
    slot(result, "preview").src = previewUrl;
    slot(result, "filename").textContent = file.name;
    slot(result, "headline").textContent = answer.rejected ? "No penguin recognised" : answer.species + " penguin";
    slot(result, "confidence").textContent = "Confidence: " + percent(answer.confidence);
    slot(result, "message").textContent = answer.message || "";
    var bars = slot(result, "bars");
    Object.keys(answer.probabilities).forEach(function (label) {
      bars.appendChild(buildBar(label, answer.probabilities[label], label === answer.species));
    });
    slot(result, "timing").textContent = describeTiming(answer.timing_ms);
    show(result);
  }

  // The same words as the result page without script (web_render.describe_timing).
  function describeTiming(timing) {
    if (!timing) return "";
    function ms(value) { return value.toFixed(1) + " ms"; }
    return "Answered in " + ms(timing.total) + ": decoding " + ms(timing.decode) +
      ", queue " + ms(timing.queue) + ", inference " + ms(timing.inference) + ".";
  }

  async function classify(file) {
    if (!file) {
      showError("No photo was chosen", "Choose a photo to classify.");
      return;
    }
    if (maxBytes && file.size > maxBytes) {
      showError(ERROR_HEADINGS[413], file.name + " is " + describeSize(file.size) +
        "; the limit is " + (maxSize || describeSize(maxBytes)) + ". Choose a smaller photo.");
      return;
    }
    showBusy(file);
    var body = new FormData();
    body.append("file", file, file.name);
    var response;
    try {
      response = await fetch(apiUrl, { method: "POST", body: body, headers: { Accept: "application/json" } });
    } catch (error) {
      showError("The classifier could not be reached", "Check your connection and try again.");
      return;
    }
    var payload = null;
    try {
      payload = await response.json();
    } catch (error) {
      payload = null;
    }
    if (!response.ok || !payload || payload.error) {
      var message = payload && payload.error ? payload.error.message : "The server answered with status " + response.status + ".";
      showError(ERROR_HEADINGS[response.status] || "That did not work", message);
      return;
    }
    showResult(payload, file);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    classify(input.files[0]);
  });

  input.addEventListener("change", function () {
    if (input.files.length) classify(input.files[0]);
  });

  var hint = form.querySelector(".drag-hint");
  if (hint) hint.hidden = false;

  ["dragenter", "dragover"].forEach(function (type) {
    dropZone.addEventListener(type, function (event) {
      event.preventDefault();
      dropZone.classList.add("is-dragging");
    });
  });
  ["dragleave", "drop"].forEach(function (type) {
    dropZone.addEventListener(type, function () {
      dropZone.classList.remove("is-dragging");
    });
  });
  function takeDrop(event) {
    event.preventDefault();
    var files = event.dataTransfer && event.dataTransfer.files;
    if (!files || !files.length) return;
    try {
      input.files = files;
    } catch (error) {
      // Older browsers cannot assign FileList; the photo is still classified below.
    }
    classify(files[0]);
  }

  dropZone.addEventListener("drop", takeDrop);
  // A photo dropped beside the box would make the browser leave the page to show the photo:
  // the whole page takes it instead (events the box handled arrive here already handled).
  document.addEventListener("dragover", function (event) {
    event.preventDefault();
  });
  document.addEventListener("drop", function (event) {
    if (!event.defaultPrevented) takeDrop(event);
  });
})();

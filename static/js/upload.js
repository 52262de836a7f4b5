// Design-file upload with a progress bar (htmx posts the form; we show the transfer's progress).
(function () {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("id_files");
  const zone = document.getElementById("dropzone");
  const bar = document.getElementById("upload-progress");
  const fill = bar.querySelector(".progress-bar");
  const error = document.getElementById("upload-error");
  const button = document.getElementById("upload-button");
  const maxBytes = Number(form.dataset.maxBytes);

  function showError(message) {
    error.textContent = message;
    error.classList.toggle("d-none", !message);
  }
  function setProgress(percent, label) {
    bar.classList.remove("d-none");
    fill.style.width = percent + "%";
    fill.textContent = label || Math.round(percent) + "%";
    bar.setAttribute("aria-valuenow", String(Math.round(percent)));
  }

  form.addEventListener("htmx:confirm", function (evt) {
    showError("");
    const files = Array.from(input.files);
    if (!files.length) { evt.preventDefault(); showError("Choose one or more files to upload."); return; }
    const tooBig = files.filter(function (f) { return f.size > maxBytes; });
    if (tooBig.length) {
      evt.preventDefault();
      showError(tooBig.map(function (f) { return "“" + f.name + "” is larger than the " + Math.round(maxBytes / 1048576) + " MiB limit."; }).join(" "));
    }
  });
  form.addEventListener("htmx:beforeRequest", function () { button.disabled = true; setProgress(0); });
  form.addEventListener("htmx:xhr:progress", function (evt) {
    if (!evt.detail.lengthComputable) return;
    const percent = (evt.detail.loaded / evt.detail.total) * 100;
    setProgress(percent, percent >= 100 ? "Encrypting and checking…" : undefined);
  });
  form.addEventListener("htmx:afterRequest", function (evt) {
    button.disabled = false;
    bar.classList.add("d-none");
    if (evt.detail.successful) { input.value = ""; }
  });
  form.addEventListener("htmx:responseError", function (evt) {
    let message = "The upload failed (" + evt.detail.xhr.status + "). Please try again.";
    try { message = JSON.parse(evt.detail.xhr.responseText).error.message || message; } catch (e) { /* not JSON */ }
    showError(message);
  });
  // Once the job has a file, a refusal to publish it without one no longer holds: take it down.
  document.body.addEventListener("htmx:afterSwap", function () {
    const stale = document.getElementById("message-no_files");
    if (stale && document.getElementById("design-file-table")) stale.remove();
  });
  form.addEventListener("htmx:sendError", function () { showError("The connection was lost during the upload. Please try again."); });

  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (evt) { evt.preventDefault(); zone.classList.add("dragover"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    zone.addEventListener(name, function (evt) { evt.preventDefault(); zone.classList.remove("dragover"); });
  });
  zone.addEventListener("drop", function (evt) { input.files = evt.dataTransfer.files; });
})();

// Narrow the material list to what the chosen process prints (the server checks it too).
(function () {
  const process = document.getElementById("id_process");
  const material = document.getElementById("id_material");
  if (!process || !material) return;
  const allowed = {};
  for (const entry of (material.dataset.processMaterials || "").split(";")) {
    const [key, list] = entry.split(":");
    if (key) allowed[key] = new Set(list.split(","));
  }
  function update() {
    const ok = allowed[process.value];
    for (const option of material.options) {
      option.hidden = option.disabled = Boolean(ok && option.value && !ok.has(option.value));
    }
    if (material.selectedOptions[0] && material.selectedOptions[0].disabled) material.value = "";
  }
  process.addEventListener("change", update);
  update();
})();

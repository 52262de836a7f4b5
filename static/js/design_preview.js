// The 3D preview of the customer's own design files (templates/marketplace/job_detail.html): the
// file comes from the decrypting download, is parsed in this browser by three.js's STL or 3MF
// loader and drawn with orbit controls. Nothing decrypted is stored: the bytes live in this page's
// memory only, and are dropped when the preview closes.
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { STLLoader } from "three/addons/loaders/STLLoader.js";
import { ThreeMFLoader } from "three/addons/loaders/3MFLoader.js";

const panel = document.getElementById("design-preview");
let viewer = null;

function triangles(object) {
  let count = 0;
  object.traverse(function (node) {
    if (!node.isMesh) return;
    const geometry = node.geometry;
    count += (geometry.index ? geometry.index.count : geometry.attributes.position.count) / 3;
  });
  return count;
}

function parse(kind, bytes) {
  if (kind === "3mf") return new ThreeMFLoader().parse(bytes);
  const material = new THREE.MeshStandardMaterial({ color: 0x0f766e, metalness: 0.1, roughness: 0.6 });
  return new THREE.Mesh(new STLLoader().parse(bytes), material);
}

function close() {
  if (viewer) viewer.dispose();
  viewer = null;
  panel.classList.add("d-none");
  panel.dataset.state = "closed";
}

function show(object, box) {
  const width = box.clientWidth || 600;
  const height = Math.round(Math.min(420, width * 0.75));
  // (preserveDrawingBuffer: the drawn part can be read back, as a screenshot or a test does.)
  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setSize(width, height);
  box.replaceChildren(renderer.domElement);
  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0xf8f9fa);
  scene.add(new THREE.HemisphereLight(0xffffff, 0x667788, 2.2));
  const light = new THREE.DirectionalLight(0xffffff, 1.6);
  scene.add(light);
  // The part centred on the origin; the camera far enough to see all of it.
  const bounds = new THREE.Box3().setFromObject(object);
  const centre = bounds.getCenter(new THREE.Vector3());
  const size = bounds.getSize(new THREE.Vector3()).length() || 1;
  object.position.sub(centre);
  scene.add(object);
  const camera = new THREE.PerspectiveCamera(40, width / height, size / 100, size * 10);
  camera.up.set(0, 0, 1); // STL and 3MF are Z-up, as the printer builds them
  camera.position.set(size * 0.9, -size * 0.9, size * 0.7);
  light.position.copy(camera.position);
  const controls = new OrbitControls(camera, renderer.domElement);
  controls.addEventListener("change", function () { light.position.copy(camera.position); renderer.render(scene, camera); });
  renderer.render(scene, camera);
  return {
    dispose: function () {
      controls.dispose();
      object.traverse(function (node) { if (node.isMesh) { node.geometry.dispose(); node.material.dispose(); } });
      renderer.dispose();
      box.replaceChildren();
    },
  };
}

async function open(button) {
  close();
  panel.classList.remove("d-none");
  panel.dataset.state = "loading";
  panel.querySelector(".preview-name").textContent = button.dataset.name;
  const status = panel.querySelector(".preview-status");
  status.textContent = "decrypting and loading…";
  try {
    const response = await fetch(button.dataset.url, { credentials: "same-origin" });
    if (!response.ok) throw new Error("the download answered " + response.status);
    const object = parse(button.dataset.kind, await response.arrayBuffer());
    const count = triangles(object);
    viewer = show(object, panel.querySelector(".preview-canvas"));
    panel.dataset.triangles = String(count);
    panel.dataset.state = "shown";
    status.textContent = count.toLocaleString() + " triangles";
    panel.scrollIntoView({ block: "nearest" });
  } catch (error) {
    panel.dataset.state = "failed";
    status.textContent = "could not be shown: " + error.message;
  }
}

if (panel) {
  // The files table is swapped by uploads and polls: listen on the document, not the buttons.
  document.addEventListener("click", function (evt) {
    const button = evt.target.closest(".preview-button");
    if (button) open(button);
  });
  panel.querySelector(".preview-close").addEventListener("click", close);
  // Until now the buttons looked and were inert (app.css): three.js is large, and a click
  // before this listener existed was lost.
  document.documentElement.dataset.previewReady = "";
}

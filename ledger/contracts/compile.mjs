// Compiles every ledger/contracts/src/**/*.sol with the pinned solc-js from npm and writes one
// artifact per deployable contract to build/<Name>.json (DESIGN.md section 4). The artifacts are
// committed, and tests/ledger/test_build.py checks that a fresh compile is byte-identical, so the
// output must depend on nothing but the sources and these settings.
//
//   node ledger/contracts/compile.mjs [--out DIR]

import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");

// The exact compiler build, not just the version: the artifacts are only reproducible with it.
const PINNED_COMPILER = "0.8.37+commit.f401782d";
const SETTINGS = {
  evmVersion: "cancun",
  // Tuned for what users pay per call (every bid), not for deployment size.
  optimizer: { enabled: true, runs: 10000 },
};

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SOURCE_DIR = path.join(HERE, "src");

function parseArgs(argv) {
  let out = path.join(HERE, "build");
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--out" && i + 1 < argv.length) {
      out = path.resolve(argv[++i]);
    } else {
      fail(`unknown argument ${argv[i]}\nusage: node ledger/contracts/compile.mjs [--out DIR]`);
    }
  }
  return { out };
}

function fail(message) {
  console.error(`compile.mjs: ${message}`);
  process.exit(1);
}

function solidityFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return solidityFiles(full);
      return entry.name.endsWith(".sol") ? [full] : [];
    })
    .sort();
}

// Source unit names are paths relative to ledger/contracts ("src/RecordAnchor.sol") or npm
// package paths ("@openzeppelin/contracts/..."): never absolute, because they end up in the
// metadata hash inside the bytecode and must not depend on where the checkout lives.
function sourceUnitName(file) {
  return path.relative(HERE, file).split(path.sep).join("/");
}

function findImport(unitName) {
  const parts = unitName.split("/");
  if (!unitName.startsWith("@") || parts.length < 3 || parts.includes("..")) {
    return { error: `cannot resolve ${unitName}: only @scope/package/... imports are supported` };
  }
  const packageName = parts.slice(0, 2).join("/");
  let packageDir;
  try {
    packageDir = path.dirname(require.resolve(`${packageName}/package.json`));
  } catch {
    return { error: `cannot resolve ${unitName}: npm package ${packageName} is not installed` };
  }
  try {
    return { contents: fs.readFileSync(path.join(packageDir, ...parts.slice(2)), "utf8") };
  } catch (error) {
    return { error: `cannot read ${unitName}: ${error.message}` };
  }
}

// Keys sorted at every level and two-space indentation, so equal artifacts are equal bytes.
function canonicalJson(value) {
  const sortKeys = (v) => {
    if (Array.isArray(v)) return v.map(sortKeys);
    if (v !== null && typeof v === "object") {
      return Object.fromEntries(
        Object.keys(v)
          .sort()
          .map((k) => [k, sortKeys(v[k])]),
      );
    }
    return v;
  };
  return `${JSON.stringify(sortKeys(value), null, 2)}\n`;
}

function compile() {
  if (solc.version() !== `${PINNED_COMPILER}.Emscripten.clang`) {
    fail(
      `solc ${solc.version()} is installed, but the artifacts are built with ${PINNED_COMPILER}: ` +
        "install the version pinned in package.json (npm install)",
    );
  }
  const files = solidityFiles(SOURCE_DIR);
  if (files.length === 0) fail(`no .sol files under ${SOURCE_DIR}`);
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(
      files.map((file) => [sourceUnitName(file), { content: fs.readFileSync(file, "utf8") }]),
    ),
    settings: {
      ...SETTINGS,
      outputSelection: {
        "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object", "metadata"] },
      },
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const diagnostics = output.errors ?? [];
  for (const diagnostic of diagnostics.filter((d) => d.severity !== "error")) {
    console.warn(diagnostic.formattedMessage ?? diagnostic.message);
  }
  const errors = diagnostics.filter((d) => d.severity === "error");
  if (errors.length > 0) {
    for (const error of errors) console.error(error.formattedMessage ?? error.message);
    fail(`${errors.length} compiler error(s)`);
  }
  return output;
}

function artifacts(output) {
  const byName = new Map();
  for (const [unitName, contracts] of Object.entries(output.contracts ?? {})) {
    if (!unitName.startsWith("src/")) continue;
    for (const [contractName, contract] of Object.entries(contracts)) {
      // Interfaces, abstract contracts and the like have no creation code: nothing to deploy.
      if (!contract.evm.bytecode.object) continue;
      if (byName.has(contractName)) {
        fail(`two contracts named ${contractName}: artifacts are named by contract`);
      }
      const metadata = JSON.parse(contract.metadata);
      byName.set(contractName, {
        contractName,
        sourceName: unitName,
        abi: contract.abi,
        bytecode: `0x${contract.evm.bytecode.object}`,
        deployedBytecode: `0x${contract.evm.deployedBytecode.object}`,
        compiler: { version: metadata.compiler.version, settings: SETTINGS },
        sources: Object.fromEntries(
          Object.entries(metadata.sources).map(([name, source]) => [name, source.keccak256]),
        ),
      });
    }
  }
  return byName;
}

function write(out, byName) {
  fs.mkdirSync(out, { recursive: true });
  for (const [name, artifact] of byName) {
    const file = path.join(out, `${name}.json`);
    const text = canonicalJson(artifact);
    const old = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : null;
    if (old !== text) fs.writeFileSync(file, text);
    const status = old === text ? "unchanged" : "wrote    ";
    console.log(`${status} ${path.relative(process.cwd(), file)}`);
  }
  // An artifact whose contract is gone would otherwise stay deployable.
  for (const entry of fs.readdirSync(out).sort()) {
    if (!entry.endsWith(".json") || byName.has(entry.slice(0, -5))) continue;
    const file = path.join(out, entry);
    let parsed;
    try {
      parsed = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (parsed && typeof parsed === "object" && "contractName" in parsed && "compiler" in parsed) {
      fs.rmSync(file);
      console.log(`removed   ${path.relative(process.cwd(), file)} (its contract is gone)`);
    }
  }
}

const { out } = parseArgs(process.argv.slice(2));
write(out, artifacts(compile()));

// Signs PrintFair machine events with ethers v6, for the interop test in test_machine_events.py:
// the typed structure is written here from the spec in printfair/machine_events.py, independently
// of Python.
//
// Usage: node tests/printfair/machine_events_interop.mjs JSON
// Input:  [{privateKey, chainId, machineId, sequence, occurredAtMs, kind, dataHash}, …] with
//         integers as decimal strings.
// Output: [{address, digest, signature}, …] on stdout, in input order.
import { TypedDataEncoder, Wallet } from "ethers";

const TYPES = {
  MachineEvent: [
    { name: "machineId", type: "uint256" },
    { name: "sequence", type: "uint64" },
    { name: "occurredAtMs", type: "uint64" },
    { name: "kind", type: "string" },
    { name: "dataHash", type: "bytes32" },
  ],
};

const cases = JSON.parse(process.argv[2]);
const out = [];
for (const c of cases) {
  const wallet = new Wallet(c.privateKey);
  const domain = { name: "PrintFair Machines", version: "1", chainId: BigInt(c.chainId) };
  const value = {
    machineId: BigInt(c.machineId),
    sequence: BigInt(c.sequence),
    occurredAtMs: BigInt(c.occurredAtMs),
    kind: c.kind,
    dataHash: c.dataHash,
  };
  out.push({
    address: wallet.address,
    digest: TypedDataEncoder.hash(domain, TYPES, value),
    signature: await wallet.signTypedData(domain, TYPES, value),
  });
}
process.stdout.write(JSON.stringify(out));
